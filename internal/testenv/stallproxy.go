package testenv

import (
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// EventWatchProxy is a TLS-terminating loopback reverse proxy in front of an
// API server that can stall the watches of core/v1 Events, and only those:
// client-go multiplexes all its requests over one HTTP/2 connection, so the
// stall is decided per request, never per connection. While stalled it holds
// new Event watch requests before they reach the API server and stops
// passing on what open Event watches deliver (a connection that hangs
// without closing); everything else, lease renewals included, passes.
// Release lets both continue where they stopped. StallReopen ends the open
// Event watches instead, so that the client's next watch is held.
type EventWatchProxy struct {
	srv     *httptest.Server
	mu      sync.Mutex
	open    chan struct{} // closed while not stalled
	cut     chan struct{} // closed by StallReopen: the Event watches open until then end
	closing chan struct{} // closed by Close: nothing waits any more
	watches atomic.Int64
	held    atomic.Int64
}

// StartEventWatchProxy starts the proxy in front of the API server of cfg,
// whose credentials it uses for every request; it stops when t ends.
func StartEventWatchProxy(t testing.TB, cfg *rest.Config) *EventWatchProxy {
	t.Helper()
	upstream, err := rest.TransportFor(cfg)
	require.NoError(t, err)
	target, err := url.Parse(cfg.Host)
	require.NoError(t, err)
	p := &EventWatchProxy{open: make(chan struct{}), cut: make(chan struct{}), closing: make(chan struct{})}
	close(p.open)
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:     upstream,
		FlushInterval: -1, // a watch's events pass one by one
		ModifyResponse: func(resp *http.Response) error {
			if IsEventWatch(resp.Request) {
				p.mu.Lock()
				resp.Body = &gatedBody{ReadCloser: resp.Body, proxy: p, ctx: resp.Request.Context(), cut: p.cut}
				p.mu.Unlock()
			}
			return nil
		},
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsEventWatch(r) {
			p.watches.Add(1)
			if p.stalled() {
				p.held.Add(1)
			}
			if p.wait(r.Context(), nil) != nil {
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	p.srv.EnableHTTP2 = true
	p.srv.StartTLS()
	t.Cleanup(p.Close)
	return p
}

// IsEventWatch reports whether r watches core/v1 Events, in all namespaces
// or in one.
func IsEventWatch(r *http.Request) bool {
	if w := r.URL.Query().Get("watch"); w != "true" && w != "1" {
		return false
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 3 && parts[0] == "api" && parts[1] == "v1":
		return parts[2] == "events"
	case len(parts) == 5 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "namespaces":
		return parts[4] == "events"
	}
	return false
}

// Stall holds Event watches until Release.
func (p *EventWatchProxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default:
	}
}

// StallReopen stalls like Stall and ends every open Event watch, so the
// client's next watch request is the one held.
func (p *EventWatchProxy) StallReopen() {
	p.Stall()
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.cut)
	p.cut = make(chan struct{})
}

// Release lets held Event watches continue.
func (p *EventWatchProxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

// Watches counts the Event watch requests the proxy received.
func (p *EventWatchProxy) Watches() int64 { return p.watches.Load() }

// Held counts the Event watch requests that arrived while stalled.
func (p *EventWatchProxy) Held() int64 { return p.held.Load() }

// Kubeconfig is a kubeconfig without credentials that reaches the API
// server through the proxy.
func (p *EventWatchProxy) Kubeconfig(t testing.TB) []byte {
	t.Helper()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["proxy"] = &clientcmdapi.Cluster{Server: p.srv.URL, CertificateAuthorityData: ca}
	cfg.AuthInfos["proxy"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["proxy"] = &clientcmdapi.Context{Cluster: "proxy", AuthInfo: "proxy"}
	cfg.CurrentContext = "proxy"
	b, err := clientcmd.Write(*cfg)
	require.NoError(t, err)
	return b
}

// Close releases everything held and stops the proxy, cutting the open
// watches (httptest would otherwise wait for them to end).
func (p *EventWatchProxy) Close() {
	p.mu.Lock()
	select {
	case <-p.closing:
	default:
		close(p.closing)
	}
	p.mu.Unlock()
	p.srv.CloseClientConnections()
	p.srv.Close()
}

func (p *EventWatchProxy) stalled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		return false
	default:
		return true
	}
}

// wait blocks while stalled, until ctx ends or the proxy closes; a closed
// cut ends it with io.EOF.
func (p *EventWatchProxy) wait(ctx context.Context, cut <-chan struct{}) error {
	select {
	case <-cut:
		return io.EOF
	default:
	}
	p.mu.Lock()
	open := p.open
	p.mu.Unlock()
	select {
	case <-cut:
		return io.EOF
	case <-open:
		return nil
	case <-p.closing:
		return context.Canceled
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gatedBody is an Event watch's response body: each read waits while the
// proxy is stalled, and ends the watch once cut is closed.
type gatedBody struct {
	io.ReadCloser
	proxy *EventWatchProxy
	ctx   context.Context
	cut   <-chan struct{}
}

func (b *gatedBody) Read(buf []byte) (int, error) {
	if err := b.proxy.wait(b.ctx, b.cut); err != nil {
		return 0, err
	}
	return b.ReadCloser.Read(buf)
}
