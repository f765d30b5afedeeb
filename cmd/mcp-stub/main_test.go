package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRun(t *testing.T) {
	record := filepath.Join(t.TempDir(), "mcp.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--record-file", record}, out,
			func(k string) string { return map[string]string{"DOT_AI_STUB_TOKEN": "tok"}[k] })
	}()
	re := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+/api/v1/tools/remediate)`)
	require.Eventually(t, func() bool { return re.MatchString(out.String()) }, 10*time.Second, 10*time.Millisecond)
	url := re.FindStringSubmatch(out.String())[1]

	post := func(token string) *http.Response {
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"issue":"pod crashed","mode":"manual"}`))
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		return resp
	}
	resp := post("")
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "token from DOT_AI_STUB_TOKEN")
	resp = post("tok")
	var env struct {
		Success bool `json:"success"`
		Data    struct {
			Result struct {
				Status string `json:"status"`
			} `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
	_ = resp.Body.Close()
	assert.True(t, env.Success)
	assert.Equal(t, "awaiting_user_approval", env.Data.Result.Status)

	cancel()
	require.NoError(t, <-done)
	b, err := os.ReadFile(record)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	assert.Len(t, lines, 2)
	assert.NotContains(t, string(b), "Bearer tok", "the record file never holds the token")
	assert.Contains(t, lines[1], `"issue":"pod crashed"`)
}

func TestBadFlag(t *testing.T) {
	err := run(context.Background(), []string{"--nope"}, &bytes.Buffer{}, func(string) string { return "" })
	assert.Error(t, err)
}
