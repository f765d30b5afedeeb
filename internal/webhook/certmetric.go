package webhook

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// certExpiryDesc is the serving certificate's notAfter. It is read from
// tls.crt at scrape time, so a rotated Secret shows at the next scrape
// without coupling to controller-runtime's certwatcher.
var certExpiryDesc = prometheus.NewDesc("dotai_webhook_certificate_expiry_timestamp_seconds",
	"notAfter of the webhook server's serving certificate (tls.crt in --webhook-cert-dir), as a Unix time; absent while the file is missing or unreadable.",
	nil, nil)

// certExpiry collects certExpiryDesc for the directory set last.
type certExpiry struct{ dir atomic.Pointer[string] }

var servingCert certExpiry

// Registered with the package, so the registry describes it from the start.
func init() { metrics.Registry.MustRegister(&servingCert) }

// ReportCertificateExpiry exports the notAfter of certDir/tls.crt on
// controller-runtime's registry. Calling it again points the metric at
// another directory (tests start the manager more than once per process).
func ReportCertificateExpiry(certDir string) { servingCert.dir.Store(&certDir) }

func (c *certExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- certExpiryDesc }

func (c *certExpiry) Collect(ch chan<- prometheus.Metric) {
	dir := c.dir.Load()
	if dir == nil {
		return
	}
	notAfter, err := certNotAfter(filepath.Join(*dir, "tls.crt"))
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue, float64(notAfter))
}

// certNotAfter is the notAfter (Unix seconds) of the first certificate in a
// PEM file: the leaf, as cert-manager writes it.
func certNotAfter(path string) (int64, error) {
	data, err := os.ReadFile(path) //nolint:gosec // the operator's cert dir
	if err != nil {
		return 0, err
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return 0, fmt.Errorf("no certificate in %s", path)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return 0, err
		}
		return cert.NotAfter.Unix(), nil
	}
}
