// Package version holds the build version, stamped by the Makefile with
// -ldflags "-X dot-ai.io/controller/internal/version.Version=...".
package version

// Version is the controller's version.
var Version = "dev"

// UserAgent is sent with every outgoing HTTP request.
func UserAgent() string { return "dot-ai-controller/" + Version }
