package redact

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMessage(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"user and password":  {"POST https://u:p4ss@dot-ai.svc/x failed", "POST https://" + Marker + "@dot-ai.svc/x failed"},
		"lone token as user": {"http://sk-abcdef@h:80/p", "http://" + Marker + "@h:80/p"},
		"no userinfo":        {"http://h:80/p?a=b@c", "http://h:80/p?a=b@c"},
		"at in a path":       {"http://h/a@b", "http://h/a@b"},
		"bearer echoed":      {"server said: Authorization: Bearer abcdefgh", "server said: Authorization: " + Marker},
		"token field":        {`{"token":"abc123"}`, `{"token":"` + Marker + `"}`},
		"plain error":        {"MCP call failed: HTTP_500 (HTTP 500): Internal Server Error", "MCP call failed: HTTP_500 (HTTP 500): Internal Server Error"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tt.want, Message(tt.in))
		})
	}
}

func TestLineKeepsAUserName(t *testing.T) {
	assert.Equal(t, "cloning ssh://git@github.com/x", Line("cloning ssh://git@github.com/x"))
}

// lineEveryRule is Line without the needle check: the reference the
// check must agree with.
func lineEveryRule(s string) string {
	for _, r := range rules {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	return s
}

func TestNeedlesNeverSkipAMatch(t *testing.T) {
	lines := []string{
		"Authorization: Bearer abcdefgh", `"PROXY-AUTHORIZATION"="Basic QWxhZGRpbjpvcGVu"`, "BEARER abcdef123",
		"DB_PASSWORD=hunter2", "x-Api-Key: 0123456789", `{"clientSecret": "s3cr3t"}`, "SESSION_ID=abc", "Cookie=a",
		"AccessKey=AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP", "ghp_abcdefghijklmnopqrstuvwxyz", "xoxb-1234567890-abc",
		"eyJhbGciOi.eyJzdWIiOi.sig", "postgres://user:pa55@db:5432/x", "plain line, nothing here", "key=value",
		"ſecret=x", "\u212Aey=x", "päss: x token=y", "2026-11-29T10:00:00Z error: connection refused to db:5432 (attempt 3)",
	}
	for _, s := range lines {
		t.Run(s, func(t *testing.T) {
			assert.Equal(t, lineEveryRule(s), Line(s))
		})
	}
	// The needle check is what skips the rules: a line with no needle must
	// come through untouched by any regexp.
	for i := range rules {
		assert.False(t, mayMatch(i, "error: connection refused to db (attempt 3)", asciiLower("error: connection refused to db (attempt 3)")), "rule %d", i)
	}
}

func FuzzNeedles(f *testing.F) {
	for _, s := range []string{"password=x", "Authorization: Basic abcdefg", "https://u:p@h", "eyJabcde.eyJabcde.x", "nothing"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Line(s), lineEveryRule(s); got != want {
			t.Fatalf("Line(%q) = %q, every rule gives %q", s, got, want)
		}
	})
}

func BenchmarkLine(b *testing.B) {
	const line = "2026-11-29T10:00:00Z error: connection refused to db:5432 (attempt 3) while starting the worker pool"
	for b.Loop() {
		_ = Line(line)
	}
}
