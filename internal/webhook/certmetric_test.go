package webhook

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"dot-ai.io/controller/internal/testenv"
)

func TestCertificateExpiryMetric(t *testing.T) {
	dir := t.TempDir()
	certPEM := testenv.WriteServingCert(t, dir)
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	keyFirst := append([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), certPEM...)

	tests := []struct {
		name string
		crt  []byte // written to tls.crt; nil removes it
		want int64  // notAfter; 0: no sample
	}{
		{name: "leaf notAfter", crt: certPEM, want: cert.NotAfter.Unix()},
		{name: "a key block before the certificate is skipped", crt: keyFirst, want: cert.NotAfter.Unix()},
		{name: "no certificate", crt: []byte("not pem")},
		{name: "missing file"},
	}
	ReportCertificateExpiry(dir)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "tls.crt")
			if tc.crt == nil {
				require.NoError(t, os.RemoveAll(path))
			} else {
				require.NoError(t, os.WriteFile(path, tc.crt, 0o600))
			}
			reg := prometheus.NewPedanticRegistry()
			require.NoError(t, reg.Register(&servingCert))
			families, err := reg.Gather()
			require.NoError(t, err)
			if tc.want == 0 {
				require.Empty(t, families)
				return
			}
			require.Len(t, families, 1)
			require.Len(t, families[0].GetMetric(), 1)
			require.InDelta(t, float64(tc.want), families[0].GetMetric()[0].GetGauge().GetValue(), 0)
		})
	}
}
