package mcptest

import (
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStubAnswers(t *testing.T) {
	srv := New(Options{Token: "tok", Confidence: 0.7})
	require.NoError(t, srv.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = srv.Close() })
	tests := map[string]struct {
		path, auth, body string
		wantStatus       int
		check            func(t *testing.T, env map[string]any)
	}{
		"automatic below threshold is not executed": {
			body: `{"issue":"x","mode":"automatic","confidenceThreshold":0.8}`, wantStatus: 200,
			check: func(t *testing.T, env map[string]any) {
				r := env["data"].(map[string]any)["result"].(map[string]any)
				assert.Equal(t, "success", r["status"])
				assert.Equal(t, false, r["executed"])
				assert.Contains(t, r["fallbackReason"], "below threshold")
			},
		},
		"automatic at threshold executes": {
			body: `{"issue":"x","mode":"automatic","confidenceThreshold":0.5}`, wantStatus: 200,
			check: func(t *testing.T, env map[string]any) {
				r := env["data"].(map[string]any)["result"].(map[string]any)
				assert.Equal(t, true, r["executed"])
				assert.Equal(t, true, r["validation"].(map[string]any)["success"])
			},
		},
		"X-Dot-AI-Authorization fallback": {auth: "-x", body: `{"issue":"x"}`, wantStatus: 200},
		"issue of 2000 astral units fits": {body: `{"issue":"` + strings.Repeat("😀", 1000) + `"}`, wantStatus: 200},
		"issue of 2001 units is rejected": {body: `{"issue":"` + strings.Repeat("😀", 1000) + `a"}`, wantStatus: 500},
		"missing issue":                   {body: `{"mode":"manual"}`, wantStatus: 500},
		"not JSON":                        {body: `{`, wantStatus: 400},
		"unknown tool":                    {path: "/api/v1/tools/nope", body: `{"issue":"x"}`, wantStatus: 404},
		"wrong token":                     {auth: "Bearer nope", body: `{"issue":"x"}`, wantStatus: 401},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = RemediatePath
			}
			req, err := http.NewRequest(http.MethodPost, srv.BaseURL()+path, strings.NewReader(tc.body))
			require.NoError(t, err)
			switch tc.auth {
			case "":
				req.Header.Set("Authorization", "Bearer tok")
			case "-x":
				req.Header.Set("X-Dot-AI-Authorization", "Bearer tok")
			default:
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, tc.wantStatus, resp.StatusCode)
			var env map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
			assert.Equal(t, tc.wantStatus == 200, env["success"])
			if tc.check != nil {
				tc.check(t, env)
			}
		})
	}
}

func TestStubOutage(t *testing.T) {
	srv := New(Options{})
	require.NoError(t, srv.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = srv.Close() })
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	post := func() (int, error) {
		resp, err := client.Post(srv.URL(), "application/json", strings.NewReader(`{"issue":"x"}`))
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	require.NoError(t, srv.Down())
	_, err := post()
	require.Error(t, err, "a downed stub refuses connections")

	require.NoError(t, srv.Up())
	srv.SetOverride(&Reply{Status: http.StatusServiceUnavailable, Body: ErrorEnvelope("UNAVAILABLE", "down")})
	for range 2 {
		status, err := post()
		require.NoError(t, err)
		assert.Equal(t, http.StatusServiceUnavailable, status, "the override answers every request")
	}
	srv.SetOverride(nil)
	status, err := post()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, 3, srv.Count(), "refused connections are not requests")
}

// TestStubStreams sends a 100 MB body and an endless one without holding
// them: the bytes allocated while they are sent stay far below their size.
func TestStubStreams(t *testing.T) {
	srv := New(Options{})
	require.NoError(t, srv.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = srv.Close() })
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	post := func(t *testing.T) *http.Response {
		resp, err := client.Post(srv.URL(), "application/json", strings.NewReader(`{"issue":"x"}`))
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	t.Run("100 MB", func(t *testing.T) {
		const size = 100 << 20
		prefix := `{"success":true,"data":{"result":{"message":"`
		srv.Inject(Reply{Status: http.StatusOK, Body: []byte(prefix), StreamBytes: size, StreamFill: []byte("ab")})
		before := totalAlloc()
		resp := post(t)
		assert.EqualValues(t, len(prefix)+size, resp.ContentLength)
		head := make([]byte, len(prefix)+4)
		_, err := io.ReadFull(resp.Body, head)
		require.NoError(t, err)
		assert.Equal(t, prefix+"abab", string(head))
		n, err := io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		assert.EqualValues(t, size-4, n)
		alloc := totalAlloc() - before
		assert.Less(t, alloc, uint64(8<<20), "a 100 MB body is streamed, not held: %d bytes allocated", alloc)
	})

	t.Run("endless, until the client goes away", func(t *testing.T) {
		srv.Inject(Reply{Status: http.StatusOK, StreamBytes: Endless})
		before := totalAlloc()
		resp := post(t)
		assert.EqualValues(t, -1, resp.ContentLength, "chunked")
		n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<20))
		require.NoError(t, err)
		assert.EqualValues(t, 64<<20, n, "still streaming after 64 MiB")
		require.NoError(t, resp.Body.Close())
		alloc := totalAlloc() - before
		assert.Less(t, alloc, uint64(8<<20), "%d bytes allocated", alloc)
		// The handler ends when the client is gone: the next request is
		// answered normally and Close does not wait for a stuck stream.
		resp2 := post(t)
		assert.Equal(t, http.StatusOK, resp2.StatusCode)
	})

	t.Run("trickle", func(t *testing.T) {
		srv.Inject(Reply{Status: http.StatusOK, StreamBytes: 5, StreamChunk: 1, StreamInterval: 20 * time.Millisecond})
		start := time.Now()
		resp := post(t)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, "xxxxx", string(body))
		assert.GreaterOrEqual(t, time.Since(start), 80*time.Millisecond)
	})

	closed := make(chan struct{})
	go func() { _ = srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs on a finished stream")
	}
}

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}
