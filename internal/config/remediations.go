package config

import (
	"flag"
	"time"
)

// Remediations bound the Remediation records the controller writes (the
// chart's remediations block; docs/remediations.md).
type Remediations struct {
	// ApprovalWindow is how long a proposal waits for a decision before it
	// becomes Expired.
	ApprovalWindow time.Duration `validate:"gte=60000000000,lte=2592000000000000"`
	// RetentionCount is the most records in a terminal phase kept per
	// namespace; the oldest are deleted first.
	RetentionCount int `validate:"gte=1,lte=100000"`
	// RetentionAge is how long a record in a terminal phase is kept.
	RetentionAge time.Duration `validate:"gte=60000000000,lte=31536000000000000"`
	// MaxOpenPerNamespace caps the open proposals (records awaiting an
	// analysis or a decision) of one namespace: an occurrence over it ends in
	// a counted outcome instead of a record.
	MaxOpenPerNamespace int `validate:"gte=1,lte=100000"`
	// SealSecret is the Secret in the controller's namespace holding the key
	// that seals records; the controller creates it when absent.
	SealSecret string `validate:"required,max=253"`
}

// Defaults of the remediations block.
const (
	DefaultApprovalWindow      = 24 * time.Hour
	DefaultRetentionCount      = 500
	DefaultRetentionAge        = 7 * 24 * time.Hour
	DefaultMaxOpenPerNamespace = 100
	DefaultSealSecret          = "dot-ai-remediation-seal"
)

// DefaultRemediations are the remediations block's defaults.
func DefaultRemediations() Remediations {
	return Remediations{
		ApprovalWindow:      DefaultApprovalWindow,
		RetentionCount:      DefaultRetentionCount,
		RetentionAge:        DefaultRetentionAge,
		MaxOpenPerNamespace: DefaultMaxOpenPerNamespace,
		SealSecret:          DefaultSealSecret,
	}
}

func (r *Remediations) bindFlags(fs *flag.FlagSet) {
	fs.DurationVar(&r.ApprovalWindow, FlagRemediationApprovalWindow, r.ApprovalWindow, "How long a proposal waits for a decision before its Remediation record becomes Expired.")
	fs.IntVar(&r.RetentionCount, FlagRemediationRetentionCount, r.RetentionCount, "Most Remediation records in a terminal phase kept per namespace (oldest deleted first).")
	fs.DurationVar(&r.RetentionAge, FlagRemediationRetentionAge, r.RetentionAge, "How long a Remediation record in a terminal phase is kept.")
	fs.IntVar(&r.MaxOpenPerNamespace, FlagRemediationMaxOpen, r.MaxOpenPerNamespace, "Most open proposals (records analysing or awaiting a decision) per namespace; an occurrence over it is counted, not recorded.")
	fs.StringVar(&r.SealSecret, FlagRemediationSealSecret, r.SealSecret, "Secret in --namespace holding the key that seals Remediation records (created when absent).")
}
