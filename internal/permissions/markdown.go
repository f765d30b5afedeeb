package permissions

import (
	"fmt"
	"strings"
)

// Markdown renders perms as the table docs/security.md shows (between its
// permissions markers; TestDocsTable keeps the two equal).
func Markdown(perms []Permission) string {
	var b strings.Builder
	b.WriteString("| Resource | Verbs | Where | Chart value | Why |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, p := range perms {
		res := "`" + p.Resource + "`"
		if p.Group != "" {
			res += " (`" + p.Group + "`)"
		}
		if len(p.ResourceNames) > 0 {
			res += " named " + strings.Join(p.ResourceNames, ", ")
		}
		value := p.Value
		if value == "" {
			value = "always"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", res, strings.Join(p.Verbs, ", "), p.Scope, value, p.Why)
	}
	return b.String()
}
