// Command golangci-lint is golangci-lint v2 with the project's module plugins
// compiled in: logcheck (structured logging) and kube-api-linter (API
// conventions). It does what `golangci-lint custom` generates, but builds from
// the Go module proxy, since `custom` clones golangci-lint's repository.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/golangci/golangci-lint/v2/pkg/commands"
	"github.com/golangci/golangci-lint/v2/pkg/exitcodes"

	// Each plugin registers itself with plugin-module-register in init;
	// .golangci*.yml enables it under linters.settings.custom (type: module).
	_ "sigs.k8s.io/kube-api-linter"
	_ "sigs.k8s.io/logtools/logcheck/gclplugin"
)

// version is stamped by hack/build-tool.sh (-X main.version=...).
var version = "unknown"

func main() {
	info := commands.BuildInfo{Version: version, Commit: "module proxy build", Date: "(unknown)", GoVersion: runtime.Version()}
	if err := commands.Execute(info); err != nil {
		_, _ = fmt.Fprintf(os.Stderr, "The command is terminated due to an error: %v\n", err)
		os.Exit(exitcodes.Failure)
	}
}
