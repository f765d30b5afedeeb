package endpoint

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wantedError checks err against want (nil: no error) and reports whether
// parsing succeeded, so the caller can check the result. Errors never echo
// the URL, which may carry a credential.
func wantedError(t *testing.T, err, want error) bool {
	t.Helper()
	if want == nil {
		require.NoError(t, err)
		return true
	}
	require.ErrorIs(t, err, want)
	assert.NotContains(t, err.Error(), "127.0.0.1", "errors never echo the URL")
	return false
}

func TestParse(t *testing.T) {
	tests := map[string]struct {
		raw     string
		wantErr error
	}{
		"plain http":              {raw: "http://127.0.0.1:3456/api/v1/tools/remediate"},
		"https default port":      {raw: "https://mcp.local"},
		"IPv6 literal":            {raw: "http://[::1]:3456/"},
		"upper-case scheme":       {raw: "HTTP://127.0.0.1/"},
		"empty":                   {raw: "", wantErr: ErrEmpty},
		"space in path":           {raw: "http://127.0.0.1:3456/api v1", wantErr: ErrControl},
		"tab":                     {raw: "http://127.0.0.1:3456/\tapi", wantErr: ErrControl},
		"newline":                 {raw: "http://127.0.0.1/\n", wantErr: ErrControl},
		"DEL":                     {raw: "http://127.0.0.1/\x7f", wantErr: ErrControl},
		"C1 control":              {raw: "http://127.0.0.1/\u0085", wantErr: ErrControl},
		"userinfo":                {raw: "http://user:pw@127.0.0.1/", wantErr: ErrUserinfo},
		"@ trick":                 {raw: "http://127.0.0.1:3456@evil.io/", wantErr: ErrUserinfo},
		"fragment":                {raw: "http://127.0.0.1/#x", wantErr: ErrFragment},
		"dot-dot":                 {raw: "http://127.0.0.1/api/../admin", wantErr: ErrDotSegment},
		"encoded dot-dot":         {raw: "http://127.0.0.1/api/%2e%2e/admin", wantErr: ErrDotSegment},
		"single dot":              {raw: "http://127.0.0.1/./api", wantErr: ErrDotSegment},
		"relative":                {raw: "/api/v1", wantErr: ErrScheme},
		"other scheme":            {raw: "ftp://127.0.0.1/", wantErr: ErrScheme},
		"no host":                 {raw: "http:///api", wantErr: ErrNotAbsolute},
		"opaque":                  {raw: "http:127.0.0.1", wantErr: ErrNotAbsolute},
		"port out of range":       {raw: "http://127.0.0.1:70000/", wantErr: ErrNotAbsolute},
		"host wildcard":           {raw: "http://*.svc/", wantErr: ErrWildcard},
		"unbracketed IPv6 is bad": {raw: "http://::1:3456/", wantErr: ErrNotAbsolute},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			u, err := Parse(tc.raw)
			if wantedError(t, err, tc.wantErr) {
				assert.NotNil(t, u)
			}
		})
	}
}

func TestParseRule(t *testing.T) {
	tests := map[string]struct {
		entry   string
		want    string
		wantErr error
	}{
		"exact endpoint":          {entry: "http://127.0.0.1:3456/api/v1/tools/remediate", want: "http://127.0.0.1:3456/api/v1/tools/remediate"},
		"legacy path prefix":      {entry: "http://127.0.0.1:3456/api/*", want: "http://127.0.0.1:3456/api"},
		"legacy whole host":       {entry: "http://127.0.0.1:3456/*", want: "http://127.0.0.1:3456/"},
		"default port made plain": {entry: "https://MCP.local", want: "https://mcp.local:443/"},
		"trailing slash":          {entry: "http://127.0.0.1/api/", want: "http://127.0.0.1:80/api"},
		"IPv6":                    {entry: "http://[::1]:3456/x", want: "http://[::1]:3456/x"},
		"raw string prefix":       {entry: "https://x.svc*", wantErr: ErrWildcard},
		"host wildcard":           {entry: "https://*.svc/", wantErr: ErrWildcard},
		"star inside path":        {entry: "https://mcp.local/team-*", wantErr: ErrWildcard},
		"whitespace":              {entry: "http://127.0.0.1:3456/api v1/*", wantErr: ErrControl},
		"userinfo":                {entry: "http://a@127.0.0.1/", wantErr: ErrUserinfo},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if r, err := ParseRule(tc.entry); wantedError(t, err, tc.wantErr) {
				assert.Equal(t, tc.want, r.String())
			}
		})
	}
	_, err := ParseRule("http://127.0.0.1/?q=1")
	assert.ErrorContains(t, err, "query")
}

func TestAllowListAllows(t *testing.T) {
	list, err := ParseAllowList([]string{
		"http://127.0.0.1:3456/*",
		"https://mcp.local/api/*",
		"http://x.svc:8080/base",
		"http://[::1]:3456/",
	})
	require.NoError(t, err)
	tests := map[string]bool{
		"http://127.0.0.1:3456/api/v1/tools/remediate":  true,
		"http://127.0.0.1:3456":                         true,
		"HTTP://127.0.0.1:3456/x":                       true,  // scheme case
		"http://127.0.0.1:3457/":                        false, // other port
		"https://127.0.0.1:3456/":                       false, // other scheme
		"http://127.0.0.1:3456@evil.io/":                false, // userinfo trick
		"http://127.0.0.1:3456.evil.io/":                false, // host suffix
		"https://mcp.local/api/v1/tools/remediate":      true,
		"https://mcp.local:443/api/x":                   true,  // default port normalised
		"https://MCP.LOCAL/api/x":                       true,  // host case
		"https://mcp.local./api/x":                      false, // trailing dot is another name
		"https://mcp.local/apix":                        false, // prefix only on a '/' boundary
		"https://mcp.local/api":                         true,
		"https://mcp.local/api/../admin":                false, // dot segments refused
		"https://mcp.local/%61pi/x":                     false, // encoded letters are another path
		"https://mcp.local/api%2Fx":                     false, // encoded slash is not a boundary
		"https://mcp.local.evil.io/api/x":               false,
		"http://x.svc:8080/base/api/v1/tools/remediate": true,
		"http://x.svc:8080/basement":                    false,
		"http://x.svc/base":                             false, // port 80, not 8080
		"http://[::1]:3456/api":                         true,
		"http://[0:0:0:0:0:0:0:1]:3456/api":             false, // another spelling is denied, the safe direction
		"http://127.0.0.1:3456/api v1":                  false, // whitespace
		"http://127.0.0.1:3456/#frag":                   false,
		"":                                              false,
	}
	for raw, want := range tests {
		assert.Equal(t, want, list.Allows(raw), raw)
	}
}

func TestParseAllowListReportsEveryBadEntry(t *testing.T) {
	_, err := ParseAllowList([]string{"http://ok/", "https://*.svc/", "http://a b/"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "entry 1")
	assert.Contains(t, err.Error(), "entry 2")
	assert.NotContains(t, err.Error(), "entry 0")
}
