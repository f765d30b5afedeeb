package testenv

import (
	"errors"
	"net/http"
	"os"
)

// SaveURL writes the body of a GET of url into the file path: profiles of
// a controller under test (its /debug/pprof on loopback), for benchmarks
// and the reliability suite.
func SaveURL(url, path string) error {
	resp, err := http.Get(url) //nolint:gosec // a loopback URL the caller chose
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = f.ReadFrom(resp.Body)
	return errors.Join(err, f.Close())
}
