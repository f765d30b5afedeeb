// Package endpoint decides which URLs may receive cluster data or the
// installation's token. It compares parsed URLs, never raw strings: a string
// prefix such as "https://x.svc" also admits "https://x.svc.evil.io".
// See decision 19 (docs/design/decisions.md#d19).
package endpoint

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Errors name the rule a URL broke; they never repeat the URL itself, which
// may carry a credential (a chat webhook URL is one).
var (
	ErrEmpty       = errors.New("must not be empty")
	ErrControl     = errors.New("must not contain whitespace or control characters")
	ErrScheme      = errors.New("scheme must be http or https")
	ErrNotAbsolute = errors.New("must be an absolute URL with a host")
	ErrUserinfo    = errors.New("must not contain user info; use mcpAuthSecretRef for credentials")
	ErrFragment    = errors.New("must not contain a fragment")
	ErrDotSegment  = errors.New("must not contain '.' or '..' path segments")
	ErrWildcard    = errors.New("may end in '/*' (a path prefix) but must not use '*' anywhere else: host wildcards are not allowed")
)

// Parse checks a URL that the controller will send data to and returns it
// parsed. It rejects what could make the same text mean two destinations:
// whitespace and control characters, user information, fragments and dot
// segments.
func Parse(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, ErrEmpty
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			return nil, ErrControl
		}
	}
	if strings.Contains(raw, "#") {
		return nil, ErrFragment
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, ErrNotAbsolute
	}
	if scheme := strings.ToLower(u.Scheme); scheme != "http" && scheme != "https" {
		return nil, ErrScheme
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, ErrNotAbsolute
	}
	if u.User != nil || strings.Contains(u.Host, "@") {
		return nil, ErrUserinfo
	}
	if p := u.Port(); p != "" && !validPort(p) {
		return nil, ErrNotAbsolute
	}
	for seg := range strings.SplitSeq(u.Path, "/") {
		if seg == "." || seg == ".." {
			return nil, ErrDotSegment
		}
	}
	if strings.ContainsAny(u.Host, "*") {
		return nil, ErrWildcard
	}
	return u, nil
}

func validPort(p string) bool {
	if len(p) > 5 {
		return false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n > 0 && n <= 65535
}

// Rule is one allowed destination: scheme, host and port exactly, and a path
// prefix that ends on a '/' boundary.
type Rule struct {
	scheme string
	host   string
	port   string
	path   string // escaped, without a trailing '/' unless it is "/"
}

// ParseRule reads an allow-list entry. "http://host:port/path" allows that
// path and everything below it; the older "http://host:port/path/*" form
// means the same prefix, so existing values keep working.
func ParseRule(entry string) (Rule, error) {
	raw := entry
	if trimmed, ok := strings.CutSuffix(raw, "/*"); ok {
		raw = trimmed + "/"
	}
	if strings.Contains(raw, "*") {
		return Rule{}, ErrWildcard
	}
	u, err := Parse(raw)
	if err != nil {
		return Rule{}, err
	}
	if u.RawQuery != "" || u.ForceQuery {
		return Rule{}, fmt.Errorf("must not contain a query (?...)")
	}
	return Rule{scheme: strings.ToLower(u.Scheme), host: canonicalHost(u), port: canonicalPort(u), path: trimSlash(u.EscapedPath())}, nil
}

// Allows reports whether u (already checked by Parse) lies under the rule.
func (r Rule) Allows(u *url.URL) bool {
	if !strings.EqualFold(u.Scheme, r.scheme) || canonicalHost(u) != r.host || canonicalPort(u) != r.port {
		return false
	}
	if r.path == "/" {
		return true
	}
	p := u.EscapedPath()
	return p == r.path || p == r.path+"/" || strings.HasPrefix(p, r.path+"/")
}

// String renders the rule in the form ParseRule reads.
func (r Rule) String() string {
	return r.scheme + "://" + net.JoinHostPort(r.host, r.port) + r.path
}

// canonicalHost lower-cases the host name; IPv6 literals lose their brackets
// (Hostname does that) so "[::1]" and "[0:0::1]" still differ, which is the
// safe direction for an allow-list.
func canonicalHost(u *url.URL) string { return strings.ToLower(u.Hostname()) }

// canonicalPort makes the default port explicit, so "https://h" and
// "https://h:443" are one destination.
func canonicalPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

func trimSlash(p string) string {
	if p == "" || p == "/" {
		return "/"
	}
	return strings.TrimSuffix(p, "/")
}

// AllowList is a parsed list of rules.
type AllowList []Rule

// ParseAllowList parses every entry and reports each bad one by index.
func ParseAllowList(entries []string) (AllowList, error) {
	list := make(AllowList, 0, len(entries))
	var errs []error
	for i, e := range entries {
		r, err := ParseRule(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %d: %w", i, err))
			continue
		}
		list = append(list, r)
	}
	return list, errors.Join(errs...)
}

// Allows reports whether raw parses and lies under one of the rules. A URL
// that does not parse is never allowed.
func (l AllowList) Allows(raw string) bool {
	u, err := Parse(raw)
	if err != nil {
		return false
	}
	for _, r := range l {
		if r.Allows(u) {
			return true
		}
	}
	return false
}
