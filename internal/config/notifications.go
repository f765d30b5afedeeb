package config

import (
	"flag"
	"time"

	"dot-ai.io/controller/internal/endpoint"
)

// Notifications are the installation's notification settings (the chart's
// notifications block).
type Notifications struct {
	// AllowedURLs are the webhook URLs, besides Slack's and Google Chat's
	// own hosts, that notifications may be sent to: scheme, host and port
	// exact, the path a prefix (decision 19 (docs/design/decisions.md#d19)).
	AllowedURLs []string
	// GroupWindow collects a policy's notifications to one destination into
	// one message per window.
	GroupWindow time.Duration `validate:"gte=0,lte=3600000000000"`
	// MaxPerMinute caps the messages one destination receives per minute;
	// what is over it is dropped and counted.
	MaxPerMinute int `validate:"gte=1,lte=10000"`
	// QueueSize bounds the notifications waiting for a worker; what does
	// not fit is dropped and counted.
	QueueSize int `validate:"gte=1,lte=1000000"`
	// Workers is how many messages are sent at once.
	Workers int `validate:"gte=1,lte=256"`
	// MaxGroupItems is how many items a grouped message lists; the rest are
	// counted.
	MaxGroupItems int `validate:"gte=1,lte=40"`
}

// Built-in notification settings (the chart's notifications block says the
// same).
const (
	DefaultNotificationGroupWindow   = 30 * time.Second
	DefaultNotificationMaxPerMinute  = 10
	DefaultNotificationQueueSize     = 1000
	DefaultNotificationWorkers       = 4
	DefaultNotificationMaxGroupItems = 10
)

// DefaultNotifications are the built-in notification settings.
func DefaultNotifications() Notifications {
	return Notifications{
		GroupWindow:   DefaultNotificationGroupWindow,
		MaxPerMinute:  DefaultNotificationMaxPerMinute,
		QueueSize:     DefaultNotificationQueueSize,
		Workers:       DefaultNotificationWorkers,
		MaxGroupItems: DefaultNotificationMaxGroupItems,
	}
}

// AllowList is the parsed allow-list; entries that do not parse allow
// nothing (Validate refuses them at start).
func (n *Notifications) AllowList() endpoint.AllowList {
	list := make(endpoint.AllowList, 0, len(n.AllowedURLs))
	for _, e := range n.AllowedURLs {
		if r, err := endpoint.ParseRule(e); err == nil {
			list = append(list, r)
		}
	}
	return list
}

func (n *Notifications) bindFlags(fs *flag.FlagSet) {
	listFlag(fs, &n.AllowedURLs, FlagNotificationAllowedURLs, "Comma-separated webhook URLs (besides hooks.slack.com and chat.googleapis.com) notifications may go to: scheme, host and port exact, the path a prefix on a / boundary.")
	fs.DurationVar(&n.GroupWindow, FlagNotificationGroupWindow, n.GroupWindow, "Window in which a policy's notifications to one destination are grouped into one message.")
	fs.IntVar(&n.MaxPerMinute, FlagNotificationMaxPerMinute, n.MaxPerMinute, "Most messages one destination receives per minute.")
	fs.IntVar(&n.QueueSize, FlagNotificationQueueSize, n.QueueSize, "Notifications waiting to be sent before new ones are dropped.")
	fs.IntVar(&n.Workers, FlagNotificationWorkers, n.Workers, "Notification messages sent at once.")
	fs.IntVar(&n.MaxGroupItems, FlagNotificationMaxGroupItems, n.MaxGroupItems, "Items a grouped message lists; the rest are counted.")
}
