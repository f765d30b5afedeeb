package webhook

import (
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/policy/policytest"
)

const otherEndpoint = policytest.OtherEndpoint

func testSettings() *config.Settings { return policytest.Settings() }
