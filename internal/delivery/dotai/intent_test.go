package dotai

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"dot-ai.io/controller/api/v1alpha1"
)

// TestNothingSentWithoutIntent: whatever the mode, a failed or panicking
// intent write sends nothing; a panic becomes a failed delivery, as a panic
// anywhere else in Deliver does.
func TestNothingSentWithoutIntent(t *testing.T) {
	tests := map[string]struct {
		write    func(context.Context) error
		wantCode string
	}{
		"error": {write: func(context.Context) error { return errors.New("apiserver unavailable") }, wantCode: "INTENT_NOT_WRITTEN"},
		"panic": {write: func(context.Context) error { panic("record writer bug") }, wantCode: "INTERNAL_ERROR"},
	}
	for name, tc := range tests {
		for _, mode := range []v1alpha1.RemediationMode{v1alpha1.ModeManual, v1alpha1.ModeAutomatic} {
			t.Run(name+"/"+string(mode), func(t *testing.T) {
				h := newHarness(t, "install-token")
				h.settings.MCPOutageHold = 0 // fail at once instead of holding
				req := request(h.settings, mode, nil)
				req.BeforeSend = tc.write
				res := h.d.Deliver(context.Background(), req)
				assert.Equal(t, 0, h.srv.Count())
				assert.Equal(t, v1alpha1.OutcomeDeliveryFailed, res.Outcome.Result)
				assert.Equal(t, tc.wantCode, res.Outcome.McpStatus)
			})
		}
	}
}
