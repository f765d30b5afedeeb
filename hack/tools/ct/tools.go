//go:build tools

// Package tools pins chart-testing's ct command.
package tools

import _ "github.com/helm/chart-testing/v3/ct"
