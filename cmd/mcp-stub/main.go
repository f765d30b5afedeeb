// Command mcp-stub serves a stub of the dot-ai remediate REST API on a
// loopback address for the local demo and the e2e suite.
//
//	mcp-stub --listen 127.0.0.1:3456 --token secret --latency 2s --record-file /tmp/mcp.jsonl
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"dot-ai.io/controller/internal/mcp/mcptest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mcp-stub:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mcp-stub", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:3456", "Address to listen on.")
	token := fs.String("token", "", "Bearer token the stub requires (empty: no auth). Also read from DOT_AI_STUB_TOKEN.")
	latency := fs.Duration("latency", 0, "Delay before every answer.")
	recordFile := fs.String("record-file", "", "File that gets one JSON line per received request (Authorization redacted).")
	confidence := fs.Float64("confidence", 0.92, "Analysis confidence the stub reports.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" {
		*token = os.Getenv("DOT_AI_STUB_TOKEN")
	}
	srv := mcptest.New(mcptest.Options{Token: *token, Latency: *latency, RecordFile: *recordFile, Confidence: *confidence})
	if err := srv.Start(*listen); err != nil {
		return err
	}
	fmt.Printf("mcp-stub listening on %s\n", srv.URL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return srv.Close()
}
