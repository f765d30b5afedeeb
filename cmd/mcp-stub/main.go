// Command mcp-stub serves a stub of the dot-ai remediate REST API on a
// loopback address for the local demo and the e2e suite.
//
//	mcp-stub --listen 127.0.0.1:3456 --token secret --latency 2s --record-file /tmp/mcp.jsonl
//
// It prints "mcp-stub listening on <remediate URL>" once it accepts
// connections and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"dot-ai.io/controller/internal/mcp/mcptest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mcp-stub:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("mcp-stub", flag.ContinueOnError)
	fs.SetOutput(out)
	listen := fs.String("listen", "127.0.0.1:3456", "Address to listen on (keep it on loopback).")
	token := fs.String("token", "", "Bearer token the stub requires (empty: no auth). Default from DOT_AI_STUB_TOKEN.")
	latency := fs.Duration("latency", 0, "Delay before every answer.")
	recordFile := fs.String("record-file", "", "File that gets one JSON line per received request (Authorization redacted).")
	confidence := fs.Float64("confidence", 0.92, "Analysis confidence the stub reports; automatic mode executes when it reaches confidenceThreshold.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" {
		*token = getenv("DOT_AI_STUB_TOKEN")
	}
	srv := mcptest.New(mcptest.Options{Token: *token, Latency: *latency, RecordFile: *recordFile, Confidence: *confidence})
	if err := srv.Start(*listen); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(out, "mcp-stub listening on %s\n", srv.URL()); err != nil {
		return errors.Join(err, srv.Close())
	}
	<-ctx.Done()
	return srv.Close()
}
