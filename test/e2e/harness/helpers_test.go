package harness

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkCase checks one table case: with errMessage set, an error containing
// it; otherwise no error and got equal to want.
func checkCase[T any](t *testing.T, want, got T, errMessage string, err error) {
	t.Helper()
	if errMessage != "" {
		require.ErrorContains(t, err, errMessage)
		return
	}
	require.NoError(t, err)
	assert.Equal(t, want, got)
}
