package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig requests a token for the chart's ServiceAccount and writes
// a kubeconfig that uses it.
func (c *Controller) writeKubeconfig(ctx context.Context, sa string) (string, error) {
	ttl := int64(c.opts.TokenTTL.Seconds())
	tr, err := c.kube.CoreV1().ServiceAccounts(c.opts.Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &ttl},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for ServiceAccount %s/%s: %w", c.opts.Namespace, sa, err)
	}
	c.Token = tr.Status.Token
	ca := c.opts.Config.CAData
	if len(ca) == 0 && c.opts.Config.CAFile != "" {
		if ca, err = os.ReadFile(c.opts.Config.CAFile); err != nil {
			return "", err
		}
	}
	path := filepath.Join(c.opts.WorkDir, "serviceaccount.kubeconfig")
	return path, clientcmd.WriteToFile(*tokenKubeconfig(c.opts.Config.Host, ca, tr.Status.Token, c.opts.Namespace), path)
}

// tokenKubeconfig is a kubeconfig whose one context uses a bearer token.
func tokenKubeconfig(server string, ca []byte, token, namespace string) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["cluster"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["sa"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "sa", Namespace: namespace}
	cfg.CurrentContext = "sa"
	return cfg
}
