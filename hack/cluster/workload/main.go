// Command workload is the static multi-call program of the real node's test
// images (built by `cluster up` with CGO_ENABLED=0):
//
//	workload pause              the pod sandbox: reaps children, exits on SIGTERM/SIGINT
//	workload crash [flags]      prints lines, runs --run, exits with --code (a crash loop)
//	workload memhog MIB         allocates and touches MIB MiB, then sleeps (an OOM kill)
//	workload listen ADDR        listens on the TCP address ADDR until killed
//	workload whoami             asks the apiserver, as an in-cluster client (the
//	                            kubernetes Service, the pod's ServiceAccount token),
//	                            who it is, and prints the answer
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: workload pause|crash|memhog|listen|whoami ...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "pause":
		pause()
	case "crash":
		crash(os.Args[2:])
	case "memhog":
		memhog(os.Args[2:])
	case "listen":
		listen(os.Args[2:])
	case "whoami":
		whoami()
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}

func pause() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, _ := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 {
				break
			}
		}
	}
}

func crash(args []string) {
	fs := flag.NewFlagSet("crash", flag.ExitOnError)
	msg := fs.String("message", "crash: giving up", "Last line, written to stderr.")
	lines := fs.Int("lines", 3, "Lines written to stdout first.")
	run := fs.Duration("run", 0, "How long to run before exiting.")
	code := fs.Int("code", 1, "Exit code.")
	_ = fs.Parse(args)
	fmt.Printf("crash: started pid=%d\n", os.Getpid())
	for i := 1; i <= *lines; i++ {
		fmt.Printf("crash: line %d\n", i)
	}
	time.Sleep(*run)
	fmt.Fprintln(os.Stderr, *msg)
	os.Exit(*code)
}

func memhog(args []string) {
	mib := 64
	if len(args) > 0 {
		if _, err := fmt.Sscan(args[0], &mib); err != nil {
			fmt.Fprintln(os.Stderr, "memhog: MIB must be a number")
			os.Exit(2)
		}
	}
	var held [][]byte
	for i := range mib {
		b := make([]byte, 1<<20)
		for j := range b {
			b[j] = byte(j)
		}
		held = append(held, b)
		fmt.Printf("memhog: allocated %d MiB\n", i+1)
	}
	fmt.Println("memhog: holding", len(held), "MiB")
	time.Sleep(time.Hour)
}

func listen(args []string) {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: workload listen ADDR")
		os.Exit(2)
	}
	l, err := net.Listen("tcp", args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	fmt.Println("listening on", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(1)
		}
		_ = c.Close()
	}
}

func whoami() {
	const sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "whoami:", err)
		os.Exit(1)
	}
	token, err := os.ReadFile(sa + "token")
	if err != nil {
		fail(err)
	}
	ca, err := os.ReadFile(sa + "ca.crt")
	if err != nil {
		fail(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	url := "https://" + net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")) +
		"/apis/authentication.k8s.io/v1/selfsubjectreviews"
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`))
	if err != nil {
		fail(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		fail(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var review struct {
		Status struct {
			UserInfo struct {
				Username string `json:"username"`
			} `json:"userInfo"`
		} `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&review); err != nil || resp.StatusCode != http.StatusCreated {
		fail(fmt.Errorf("HTTP %d: %v", resp.StatusCode, err))
	}
	fmt.Println("whoami:", review.Status.UserInfo.Username)
}
