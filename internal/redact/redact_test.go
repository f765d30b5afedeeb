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
