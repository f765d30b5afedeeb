package harness

import (
	"context"
	"errors"
	"time"
)

// waitFor calls f every 200ms until it reports done, returns a stopError,
// or timeout passes; then it returns the last error f gave, if any.
func waitFor(ctx context.Context, timeout time.Duration, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := f()
		if ok {
			return nil
		}
		if err != nil {
			last = err
			if _, stop := errors.AsType[*stopError](err); stop {
				return err
			}
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return last
			}
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stopError ends waitFor at once: waiting longer cannot help.
type stopError struct{ error }

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
