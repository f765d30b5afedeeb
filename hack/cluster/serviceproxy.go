package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// The apiserver refuses loopback Endpoints and no kube-proxy runs, so the
// `kubernetes` Service's ClusterIP (serviceIP:443, what the kubelet gives
// every pod as KUBERNETES_SERVICE_HOST/PORT) would lead nowhere. This
// component (`cluster service-proxy`) forwards it to the apiserver, so
// in-cluster clients of hostNetwork pods on the real node reach it; the
// apiserver's certificate names serviceIP. With --kubeconfig it also
// forwards every other Service to its hostNetwork pods on the real node
// (services.go): a tiny kube-proxy.

func cmdServiceProxy(args []string) error {
	fs := flag.NewFlagSet("service-proxy", flag.ContinueOnError)
	listen := fs.String("listen", serviceIP+":443", "Address to listen on (a ClusterIP and port).")
	target := fs.String("target", "", "Address to forward to (the apiserver's 127.0.0.1:port).")
	kubeconfig := fs.String("kubeconfig", "", "Forward the other Services too, watched with this kubeconfig.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" {
		return errors.New("--target is required")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listening on %s (does another local cluster serve it?): %w", *listen, err)
	}
	fmt.Printf("Forwarding %s to %s\n", *listen, *target)
	errs := make(chan error, 2)
	if *kubeconfig != "" {
		go func() { errs <- forwardServices(ctx, *kubeconfig) }()
	}
	go func() { errs <- forward(ctx, l, fixedTarget(*target)) }()
	err = <-errs
	cancel()
	return err
}

// fixedTarget is a forward target that is always addr.
func fixedTarget(addr string) func() (string, error) {
	return func() (string, error) { return addr, nil }
}

// forward copies each connection accepted on l to a new connection to the
// address target returns at that moment, both ways, until ctx ends.
func forward(ctx context.Context, l net.Listener, target func() (string, error)) error {
	go func() {
		<-ctx.Done()
		_ = l.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		in, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Go(func() {
			defer func() { _ = in.Close() }()
			addr, err := target()
			if err != nil {
				fmt.Fprintf(os.Stderr, "No target for %s: %v\n", l.Addr(), err)
				return
			}
			var d net.Dialer
			out, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				fmt.Fprintf(os.Stderr, "Dialing %s failed: %v\n", addr, err)
				return
			}
			defer func() { _ = out.Close() }()
			done := make(chan struct{}, 2)
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				// Half-close so the other side sees EOF and finishes too.
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
				done <- struct{}{}
			}
			go pipe(out, in)
			go pipe(in, out)
			select {
			case <-done:
				<-done
			case <-ctx.Done():
			}
		})
	}
}
