package helm

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/webhook"
)

const fullname = releaseName + "-dot-ai-controller"

func deployment(t *testing.T, r *rendered) *appsv1.Deployment {
	return into[appsv1.Deployment](t, r.find(t, "Deployment", ""))
}

func managerContainer(t *testing.T, d *appsv1.Deployment) corev1.Container {
	require.Len(t, d.Spec.Template.Spec.Containers, 1)
	c := d.Spec.Template.Spec.Containers[0]
	require.Equal(t, "manager", c.Name)
	return c
}

// argMap maps --flag to its value (flags are rendered as --name=value).
func argMap(t *testing.T, args []string) map[string]string {
	m := map[string]string{}
	for _, a := range args {
		name, val, ok := strings.Cut(a, "=")
		require.Truef(t, ok && strings.HasPrefix(name, "--"), "arg %q is not --name=value", a)
		_, dup := m[name]
		require.Falsef(t, dup, "flag %s given twice", name)
		m[name] = val
	}
	return m
}

func TestSecurityContext(t *testing.T) {
	r := mustRender(t, nil, renderOpts{})
	d := deployment(t, r)
	pod := d.Spec.Template.Spec.SecurityContext
	require.NotNil(t, pod)
	assert.Equal(t, new(true), pod.RunAsNonRoot)
	assert.Equal(t, new(int64(65532)), pod.RunAsUser)
	require.NotNil(t, pod.SeccompProfile)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.SeccompProfile.Type)

	c := managerContainer(t, d).SecurityContext
	require.NotNil(t, c)
	assert.Equal(t, new(false), c.AllowPrivilegeEscalation)
	assert.Equal(t, new(true), c.ReadOnlyRootFilesystem)
	require.NotNil(t, c.Capabilities)
	assert.Equal(t, []corev1.Capability{"ALL"}, c.Capabilities.Drop)
	assert.Empty(t, c.Capabilities.Add)
	assert.Nil(t, c.Privileged)

	// The helm test Pod is restricted too.
	testPod := into[corev1.Pod](t, r.find(t, "Pod", fullname+"-test"))
	assert.Equal(t, new(true), testPod.Spec.SecurityContext.RunAsNonRoot)
	assert.Equal(t, new(true), testPod.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem)
}

func TestDeploymentWiring(t *testing.T) {
	r := mustRender(t, nil, renderOpts{})
	dumpOnFailure(t, r)
	d := deployment(t, r)
	spec := d.Spec.Template.Spec
	c := managerContainer(t, d)

	// Probes on the health port.
	require.NotNil(t, c.LivenessProbe)
	require.NotNil(t, c.ReadinessProbe)
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	assert.Equal(t, "health", c.LivenessProbe.HTTPGet.Port.String())
	// The leader's liveness fails after the Event watch stall timeout (the
	// binary's default); the kubelet restarts it within half a bookmark
	// interval after that.
	stall, err := time.ParseDuration(argMap(t, c.Args)["--event-watch-stall-timeout"])
	require.NoError(t, err)
	assert.Equal(t, config.DefaultEventWatchStallTimeout, stall)
	restartAfter := time.Duration(c.LivenessProbe.FailureThreshold*c.LivenessProbe.PeriodSeconds) * time.Second
	assert.LessOrEqual(t, restartAfter, config.APIServerBookmarkInterval/2)
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	assert.Equal(t, map[string]int32{"webhook": 9443, "metrics": 8443, "health": 8081}, ports)

	// The webhook certificate Secret is mounted where the binary reads it.
	args := argMap(t, c.Args)
	assert.Equal(t, "/tmp/k8s-webhook-server/serving-certs", args["--webhook-cert-dir"])
	var mounted bool
	for _, m := range c.VolumeMounts {
		if m.MountPath != args["--webhook-cert-dir"] {
			continue
		}
		mounted = true
		var secret string
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				secret = v.Secret.SecretName
			}
		}
		cert := r.find(t, "Certificate", fullname+"-serving-cert")
		want, _, _ := unstructuredString(cert.Object, "spec", "secretName")
		assert.Equal(t, want, secret)
	}
	assert.True(t, mounted, "webhook cert dir is not mounted")

	// The namespace comes from the downward API.
	assert.Equal(t, "$(POD_NAMESPACE)", args["--namespace"])
	require.Len(t, c.Env, 2)
	assert.Equal(t, "metadata.namespace", c.Env[0].ValueFrom.FieldRef.FieldPath)
	// The binary keeps its heap under 90% of the container's memory limit.
	assert.Equal(t, "DOT_AI_MEMORY_LIMIT", c.Env[1].Name)
	require.NotNil(t, c.Env[1].ValueFrom.ResourceFieldRef)
	assert.Equal(t, "limits.memory", c.Env[1].ValueFrom.ResourceFieldRef.Resource)
	assert.Equal(t, "manager", c.Env[1].ValueFrom.ResourceFieldRef.ContainerName)

	// No token file without a token.
	assert.NotContains(t, args, "--mcp-token-file")

	// Shutdown ordering: drain < graceful shutdown < termination grace.
	assert.Equal(t, "30s", args["--drain-timeout"])
	assert.Equal(t, "45s", args["--graceful-shutdown-timeout"])
	assert.Equal(t, new(int64(60)), spec.TerminationGracePeriodSeconds)
	assert.Equal(t, "ghcr.io/dot-ai/dot-ai-controller:"+r.rel.Chart.Metadata.AppVersion, c.Image)
}

func TestValuesReachArgs(t *testing.T) {
	r := mustRender(t, loadValues(t, "testdata/full.values.yaml"), renderOpts{})
	dumpOnFailure(t, r)
	d := into[appsv1.Deployment](t, r.find(t, "Deployment", "dotai"))
	c := managerContainer(t, d)
	args := argMap(t, c.Args)
	want := map[string]string{
		"--namespace":                          "$(POD_NAMESPACE)",
		"--mcp-endpoint":                       "https://dot-ai.dot-ai.svc:3456/",
		"--mcp-allowed-endpoints":              "https://dot-ai-staging.dot-ai.svc:3456/,http://127.0.0.1:3456/*",
		"--mcp-token-file":                     "/etc/dot-ai/mcp-token/token",
		"--mcp-ca-file":                        "/etc/dot-ai/mcp-ca/ca.crt",
		"--mcp-timeout":                        "10m",
		"--mcp-outage-hold":                    "1h",
		"--mcp-breaker-cooldown":               "1m",
		"--cluster-policy-namespaces":          "dot-ai,platform",
		"--concurrency":                        "256",
		"--queue-size":                         "1000000",
		"--drain-timeout":                      "1m",
		"--graceful-shutdown-timeout":          "90s",
		"--default-mode":                       "automatic",
		"--default-confidence-threshold":       "0.95",
		"--default-max-risk-level":             "medium",
		"--default-mcp-tool":                   "remediate_v2",
		"--default-events-per-minute":          "60",
		"--default-cooldown-minutes":           "0",
		"--default-min-occurrences":            "2",
		"--default-occurrence-window-seconds":  "900",
		"--default-include-logs":               "false",
		"--default-log-lines":                  "500",
		"--default-max-log-bytes":              "10485760",
		"--default-include-previous-logs":      "false",
		"--default-include-related-events":     "false",
		"--default-lookback-minutes":           "30",
		"--default-include-resource-spec":      "false",
		"--default-include-metrics":            "true",
		"--automatic-mode-namespaces":          "dot-ai,platform,team-a",
		"--max-risk-level":                     "low",
		"--namespace-max-risk-levels":          "platform=high,team-a=medium",
		"--analysis-calls-per-hour":            "5000",
		"--namespace-analysis-calls-per-hour":  "500",
		"--metrics-bind-address":               ":8443",
		"--metrics-secure":                     "true",
		"--health-probe-bind-address":          ":8081",
		"--event-watch-stall-timeout":          "5m",
		"--webhook-port":                       "9443",
		"--webhook-cert-dir":                   "/tmp/k8s-webhook-server/serving-certs",
		"--leader-elect":                       "true",
		"--leader-elect-lease-duration":        "30s",
		"--leader-elect-renew-deadline":        "20s",
		"--leader-elect-retry-period":          "5s",
		"--zap-log-level":                      "debug",
		"--kube-api-qps":                       "100",
		"--kube-api-burst":                     "200",
		"--enrichment-api-qps":                 "400",
		"--enrichment-api-burst":               "800",
		"--log-api-qps":                        "0.5",
		"--log-api-burst":                      "2",
		"--gc-percent":                         "40",
		"--default-notify-on-start":            "false",
		"--default-notify-on-complete":         "true",
		"--notification-group-window":          "30s",
		"--notification-max-per-minute":        "10",
		"--notification-queue-size":            "1000",
		"--notification-workers":               "4",
		"--notification-max-group-items":       "10",
		"--service-account":                    "dot-ai-sa",
		"--remediation-approval-window":        "8h",
		"--remediation-retention-count":        "200",
		"--remediation-retention-age":          "72h",
		"--remediation-max-open-per-namespace": "20",
	}
	assert.Equal(t, want, args)
	assert.Equal(t, new(int64(120)), d.Spec.Template.Spec.TerminationGracePeriodSeconds)
	assert.Equal(t, "registry.example.test/dot-ai-controller@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", c.Image)

	// The token Secret holds the token and is what the token volume mounts.
	secret := into[corev1.Secret](t, r.find(t, "Secret", "dotai-mcp-token"))
	assert.Equal(t, "not-a-real-token", string(secret.Data["token"]))
	vols := map[string]corev1.Volume{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		vols[v.Name] = v
	}
	require.NotNil(t, vols["mcp-token"].Secret)
	assert.Equal(t, "dotai-mcp-token", vols["mcp-token"].Secret.SecretName)
	assert.Equal(t, []corev1.KeyToPath{{Key: "token", Path: "token"}}, vols["mcp-token"].Secret.Items)
	require.NotNil(t, vols["mcp-ca"].ConfigMap)
	cm := into[corev1.ConfigMap](t, r.find(t, "ConfigMap", vols["mcp-ca"].ConfigMap.Name))
	assert.Contains(t, cm.Data["ca.crt"], "BEGIN CERTIFICATE")

	ann := d.Spec.Template.Annotations
	assert.NotEmpty(t, ann["checksum/mcp-token"])
	assert.NotEmpty(t, ann["checksum/mcp-ca"])

	// The topology spread constraint got the chart's selector.
	tsc := d.Spec.Template.Spec.TopologySpreadConstraints
	require.Len(t, tsc, 1)
	assert.Equal(t, map[string]string{"app.kubernetes.io/name": "dot-ai-controller", "app.kubernetes.io/instance": releaseName}, tsc[0].LabelSelector.MatchLabels)
}

func TestExistingSecret(t *testing.T) {
	r := mustRender(t, loadValues(t, "testdata/existing-secret.values.yaml"), renderOpts{})
	assert.Zero(t, r.kinds()["Secret"], "the chart must not create a token Secret")
	d := deployment(t, r)
	args := argMap(t, managerContainer(t, d).Args)
	assert.Equal(t, "/etc/dot-ai/mcp-token/token", args["--mcp-token-file"])
	var found bool
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "mcp-token" {
			found = true
			assert.Equal(t, "dot-ai-mcp-auth", v.Secret.SecretName)
			assert.Equal(t, []corev1.KeyToPath{{Key: "auth-token", Path: "token"}}, v.Secret.Items)
		}
	}
	assert.True(t, found)
	assert.NotContains(t, d.Spec.Template.Annotations, "checksum/mcp-token")
}

func TestCertManagerIssuer(t *testing.T) {
	t.Run("self-signed by default", func(t *testing.T) {
		r := mustRender(t, nil, renderOpts{})
		issuer := r.find(t, "Issuer", fullname+"-selfsigned")
		_, ok, _ := unstructuredMap(issuer.Object, "spec", "selfSigned")
		assert.True(t, ok)
		cert := r.find(t, "Certificate", fullname+"-serving-cert")
		ref, _, _ := unstructuredMap(cert.Object, "spec", "issuerRef")
		assert.Equal(t, map[string]any{"name": fullname + "-selfsigned", "kind": "Issuer", "group": "cert-manager.io"}, ref)
		dns, _, _ := unstructuredSlice(cert.Object, "spec", "dnsNames")
		assert.Equal(t, []any{fullname + "-webhook.dot-ai.svc", fullname + "-webhook.dot-ai.svc.cluster.local"}, dns)
		svc := into[corev1.Service](t, r.find(t, "Service", fullname+"-webhook"))
		require.Len(t, svc.Spec.Ports, 1)
		assert.Equal(t, int32(443), svc.Spec.Ports[0].Port)
		assert.Equal(t, "webhook", svc.Spec.Ports[0].TargetPort.String())
	})
	t.Run("existing issuer", func(t *testing.T) {
		r := mustRender(t, loadValues(t, "testdata/existing-issuer.values.yaml"), renderOpts{})
		assert.Zero(t, r.kinds()["Issuer"])
		cert := r.find(t, "Certificate", fullname+"-serving-cert")
		ref, _, _ := unstructuredMap(cert.Object, "spec", "issuerRef")
		assert.Equal(t, map[string]any{"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}, ref)
		d, _, _ := unstructuredString(cert.Object, "spec", "duration")
		assert.Equal(t, "2160h", d)
	})
}

func TestWebhookConfigurations(t *testing.T) {
	for _, policy := range []string{"Fail", "Ignore"} {
		t.Run(policy, func(t *testing.T) {
			r := mustRender(t, map[string]any{"webhook": map[string]any{"failurePolicy": policy}}, renderOpts{})
			inject := "dot-ai/" + fullname + "-serving-cert"
			wantRules := []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{"remediation.dot-ai.io"}, APIVersions: []string{"v1alpha1"},
					Resources: []string{"remediationpolicies"}, Scope: ptr.To(admissionregistrationv1.NamespacedScope),
				},
			}}
			check := func(kind string, ann map[string]string, _ string, cc admissionregistrationv1.WebhookClientConfig, rules []admissionregistrationv1.RuleWithOperations,
				fp *admissionregistrationv1.FailurePolicyType, se *admissionregistrationv1.SideEffectClass, timeout *int32, versions []string,
				nsSel, objSel any, path string) {
				assert.Equal(t, inject, ann["cert-manager.io/inject-ca-from"], kind)
				assert.Equal(t, wantRules, rules, kind)
				assert.Equal(t, new(admissionregistrationv1.FailurePolicyType(policy)), fp, kind)
				// The validating webhook records admitted specs (decision 20 (docs/design/decisions.md#d20)), never on a dry run.
				wantSE := admissionregistrationv1.SideEffectClassNone
				if kind == "validating" {
					wantSE = admissionregistrationv1.SideEffectClassNoneOnDryRun
				}
				assert.Equal(t, new(wantSE), se, kind)
				assert.Equal(t, new(int32(10)), timeout, kind)
				assert.Equal(t, []string{"v1"}, versions, kind)
				// Decision 3 (docs/design/decisions.md#d3): no namespace exclusion, the release namespace included.
				assert.Nil(t, nsSel, kind)
				assert.Nil(t, objSel, kind)
				require.NotNil(t, cc.Service, kind)
				assert.Equal(t, fullname+"-webhook", cc.Service.Name)
				assert.Equal(t, "dot-ai", cc.Service.Namespace)
				assert.Equal(t, new(path), cc.Service.Path)
				assert.Empty(t, cc.CABundle, "cert-manager injects the CA")
			}
			m := into[admissionregistrationv1.MutatingWebhookConfiguration](t, r.find(t, "MutatingWebhookConfiguration", fullname))
			require.Len(t, m.Webhooks, 2, "RemediationPolicy's, then Remediation's (TestRemediationWebhookConfigurations)")
			w := m.Webhooks[0]
			check("mutating", m.Annotations, w.Name, w.ClientConfig, w.Rules, w.FailurePolicy, w.SideEffects, w.TimeoutSeconds, w.AdmissionReviewVersions,
				w.NamespaceSelector, w.ObjectSelector, "/mutate-remediation-dot-ai-io-v1alpha1-remediationpolicy")
			v := into[admissionregistrationv1.ValidatingWebhookConfiguration](t, r.find(t, "ValidatingWebhookConfiguration", fullname))
			require.Len(t, v.Webhooks, 2)
			vw := v.Webhooks[0]
			check("validating", v.Annotations, vw.Name, vw.ClientConfig, vw.Rules, vw.FailurePolicy, vw.SideEffects, vw.TimeoutSeconds, vw.AdmissionReviewVersions,
				vw.NamespaceSelector, vw.ObjectSelector, "/validate-remediation-dot-ai-io-v1alpha1-remediationpolicy")
		})
	}
}

// TestRemediationWebhookConfigurations: the Remediation webhooks always fail
// closed, see status writes, skip only the chart's own ServiceAccount, and
// call the paths the binary serves.
func TestRemediationWebhookConfigurations(t *testing.T) {
	for _, policy := range []string{"Fail", "Ignore"} {
		t.Run("policies' failurePolicy "+policy, func(t *testing.T) {
			r := mustRender(t, map[string]any{"webhook": map[string]any{"failurePolicy": policy}}, renderOpts{})
			notController := []admissionregistrationv1.MatchCondition{{Name: "not-the-controller",
				Expression: "request.userInfo.username != 'system:serviceaccount:" + releaseNamespace + ":" + fullname + "'"}}
			rules := func(ops []admissionregistrationv1.OperationType, resources ...string) []admissionregistrationv1.RuleWithOperations {
				return []admissionregistrationv1.RuleWithOperations{{Operations: ops, Rule: admissionregistrationv1.Rule{
					APIGroups: []string{"remediation.dot-ai.io"}, APIVersions: []string{"v1alpha1"},
					Resources: resources, Scope: ptr.To(admissionregistrationv1.NamespacedScope),
				}}}
			}
			fail := new(admissionregistrationv1.Fail)
			m := into[admissionregistrationv1.MutatingWebhookConfiguration](t, r.find(t, "MutatingWebhookConfiguration", fullname))
			require.Len(t, m.Webhooks, 2)
			w := m.Webhooks[1]
			assert.Equal(t, "mutate.remediations.remediation.dot-ai.io", w.Name)
			assert.Equal(t, fail, w.FailurePolicy)
			assert.Equal(t, notController, w.MatchConditions)
			assert.Equal(t, rules([]admissionregistrationv1.OperationType{admissionregistrationv1.Update}, "remediations"), w.Rules)
			assert.Equal(t, new(webhook.RemediationMutatePath), w.ClientConfig.Service.Path)
			v := into[admissionregistrationv1.ValidatingWebhookConfiguration](t, r.find(t, "ValidatingWebhookConfiguration", fullname))
			require.Len(t, v.Webhooks, 2)
			vw := v.Webhooks[1]
			assert.Equal(t, "validate.remediations.remediation.dot-ai.io", vw.Name)
			assert.Equal(t, fail, vw.FailurePolicy)
			assert.Equal(t, new(admissionregistrationv1.SideEffectClassNone), vw.SideEffects)
			assert.Equal(t, notController, vw.MatchConditions)
			assert.Equal(t, rules([]admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				"remediations", "remediations/status"), vw.Rules)
			assert.Equal(t, new(webhook.RemediationValidatePath), vw.ClientConfig.Service.Path)
			d := deployment(t, r)
			assert.Contains(t, d.Spec.Template.Spec.Containers[0].Args, "--service-account="+d.Spec.Template.Spec.ServiceAccountName,
				"the binary knows the user the match conditions skip")
		})
	}
}

func TestCRD(t *testing.T) {
	r := mustRender(t, nil, renderOpts{})
	crd := r.find(t, "CustomResourceDefinition", "remediationpolicies.remediation.dot-ai.io")
	assert.Equal(t, "keep", crd.GetAnnotations()["helm.sh/resource-policy"])
	assert.Equal(t, "Helm", crd.GetLabels()["app.kubernetes.io/managed-by"])

	off := mustRender(t, map[string]any{"crds": map[string]any{"install": false}}, renderOpts{})
	assert.Zero(t, off.kinds()["CustomResourceDefinition"])
}

func TestServiceMonitorOnlyWithAPI(t *testing.T) {
	vals := map[string]any{"serviceMonitor": map[string]any{"enabled": true}}
	without := mustRender(t, vals, renderOpts{})
	assert.Zero(t, without.kinds()["ServiceMonitor"])
	assert.Contains(t, without.rel.Info.Notes, "does not serve monitoring.coreos.com/v1")

	with := mustRender(t, vals, renderOpts{extraAPIs: []string{serviceMonitorAPI}})
	sm := with.find(t, "ServiceMonitor", fullname)
	eps, _, _ := unstructuredSlice(sm.Object, "spec", "endpoints")
	require.Len(t, eps, 1)
	assert.Equal(t, "https", eps[0].(map[string]any)["scheme"])
	assert.Equal(t, "metrics", eps[0].(map[string]any)["port"])
	assert.NotContains(t, with.rel.Info.Notes, "no ServiceMonitor was created")

	// With the API but not enabled: none.
	assert.Zero(t, mustRender(t, nil, renderOpts{extraAPIs: []string{serviceMonitorAPI}}).kinds()["ServiceMonitor"])
}

func TestOptionalObjects(t *testing.T) {
	def := mustRender(t, nil, renderOpts{})
	for _, k := range []string{"PodDisruptionBudget", "NetworkPolicy", "Secret", "ServiceMonitor"} {
		assert.Zerof(t, def.kinds()[k], "%s rendered by default", k)
	}
	full := mustRender(t, loadValues(t, "testdata/full.values.yaml"), renderOpts{})
	pdb := full.find(t, "PodDisruptionBudget", "dotai")
	mu, _, _ := unstructuredInt(pdb.Object, "spec", "maxUnavailable")
	assert.Equal(t, int64(1), mu)
	_, hasMin, _ := unstructuredInt(pdb.Object, "spec", "minAvailable")
	assert.False(t, hasMin)
	full.find(t, "NetworkPolicy", "dotai")

	minimal := mustRender(t, loadValues(t, "testdata/minimal.values.yaml"), renderOpts{})
	for _, k := range []string{"CustomResourceDefinition", "Pod"} {
		assert.Zerof(t, minimal.kinds()[k], "%s rendered in the minimal case", k)
	}
	args := argMap(t, managerContainer(t, deployment(t, minimal)).Args)
	assert.Equal(t, "0", args["--metrics-bind-address"])
	assert.Equal(t, "false", args["--leader-elect"])
	assert.Equal(t, 1, minimal.kinds()["Service"], "only the webhook Service")
}

func TestHostNetworkAndBindAddress(t *testing.T) {
	cases := []struct {
		name                             string
		values                           map[string]any
		wantHostNetwork                  bool
		wantMetrics, wantHealth, hostArg string
	}{
		{name: "defaults: every interface, pod network", wantMetrics: ":8443", wantHealth: ":8081"},
		{name: "local cluster's real node", values: map[string]any{"hostNetwork": true, "bindAddress": "127.0.0.1"},
			wantHostNetwork: true, wantMetrics: "127.0.0.1:8443", wantHealth: "127.0.0.1:8081", hostArg: "127.0.0.1"},
		{name: "IPv6 gets brackets", values: map[string]any{"bindAddress": "::1"},
			wantMetrics: "[::1]:8443", wantHealth: "[::1]:8081", hostArg: "::1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, tc.values, renderOpts{})
			d := deployment(t, r)
			args := argMap(t, managerContainer(t, d).Args)
			assert.Equal(t, tc.wantMetrics, args["--metrics-bind-address"])
			assert.Equal(t, tc.wantHealth, args["--health-probe-bind-address"])
			assert.Equal(t, tc.hostArg, args["--webhook-host"])
			assert.Equal(t, tc.wantHostNetwork, d.Spec.Template.Spec.HostNetwork)
			// The helm test pod runs where the controller runs, in the same network.
			testPod := into[corev1.Pod](t, r.find(t, "Pod", fullname+"-test"))
			assert.Equal(t, tc.wantHostNetwork, testPod.Spec.HostNetwork)
			if tc.wantHostNetwork {
				assert.Equal(t, corev1.DNSClusterFirstWithHostNet, d.Spec.Template.Spec.DNSPolicy)
				assert.Equal(t, corev1.DNSClusterFirstWithHostNet, testPod.Spec.DNSPolicy)
			}
		})
	}
}

func TestValuesRejected(t *testing.T) {
	cases := []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"typo at top level", map[string]any{"concurrence": 5}, "additional properties 'concurrence' not allowed"},
		{"typo nested", map[string]any{"mcp": map[string]any{"endpont": "http://x"}}, "additional properties 'endpont' not allowed"},
		{"typo in policyDefaults", map[string]any{"policyDefaults": map[string]any{"eventPerMinute": 5}}, "additional properties 'eventPerMinute' not allowed"},
		{"bad type", map[string]any{"concurrency": "many"}, "/concurrency"},
		{"bad bool", map[string]any{"policyDefaults": map[string]any{"includeLogs": "yes"}}, "/policyDefaults/includeLogs"},
		{"bad enum", map[string]any{"policyDefaults": map[string]any{"mode": "auto"}}, "/policyDefaults/mode"},
		{"threshold above CRD bound", map[string]any{"policyDefaults": map[string]any{"confidenceThreshold": 1.5}}, "/policyDefaults/confidenceThreshold"},
		{"log bytes below CRD bound", map[string]any{"policyDefaults": map[string]any{"maxLogBytes": 100}}, "/policyDefaults/maxLogBytes"},
		{"failure policy", map[string]any{"webhook": map[string]any{"failurePolicy": "Retry"}}, "/webhook/failurePolicy"},
		{"approver aggregated to view", map[string]any{"rbac": map[string]any{"remediationApprover": map[string]any{"aggregateTo": []any{"view"}}}}, "/rbac/remediationApprover/aggregateTo/0"},
		{"viewer aggregated to a custom role", map[string]any{"rbac": map[string]any{"remediationViewer": map[string]any{"aggregateTo": []any{"ops"}}}}, "/rbac/remediationViewer/aggregateTo/0"},
		{"guardrails typo", map[string]any{"guardrails": map[string]any{"automaticNamespaces": []any{"x"}}}, "additional properties 'automaticNamespaces' not allowed"},
		{"guardrails bad namespace", map[string]any{"guardrails": map[string]any{"automaticModeNamespaces": []any{"Team_A"}}}, "/guardrails/automaticModeNamespaces/0"},
		{"guardrails bad cap", map[string]any{"guardrails": map[string]any{"maxRiskLevel": map[string]any{"default": "extreme"}}}, "/guardrails/maxRiskLevel/default"},
		{"guardrails bad namespace cap", map[string]any{"guardrails": map[string]any{"maxRiskLevel": map[string]any{"namespaces": map[string]any{"ops": "extreme"}}}}, "/guardrails/maxRiskLevel/namespaces/ops"},
		{"guardrails zero budget", map[string]any{"guardrails": map[string]any{"budget": map[string]any{"callsPerHour": 0}}}, "/guardrails/budget/callsPerHour"},
		{"guardrails unbounded namespace budget", map[string]any{"guardrails": map[string]any{"budget": map[string]any{"namespaceCallsPerHour": nil}}}, "/guardrails/budget"},
		{"endpoint not a URL", map[string]any{"mcp": map[string]any{"endpoint": "dot-ai:3456"}}, "/mcp/endpoint"},
		{"allow-list host wildcard", map[string]any{"mcp": map[string]any{"allowedEndpoints": []any{"http://127.0.0.1:3456/*", "https://*.svc.cluster.local/*"}}}, "mcp.allowedEndpoints[1]: host wildcards"},
		{"allow-list raw prefix", map[string]any{"mcp": map[string]any{"allowedEndpoints": []any{"https://x.svc*"}}}, "mcp.allowedEndpoints[0]: host wildcards"},
		{"allow-list whitespace", map[string]any{"mcp": map[string]any{"allowedEndpoints": []any{"http://127.0.0.1:3456/api v1"}}}, "/mcp/allowedEndpoints/0"},
		{"allow-list user info", map[string]any{"mcp": map[string]any{"allowedEndpoints": []any{"http://u@127.0.0.1/"}}}, "/mcp/allowedEndpoints/0"},
		{"duration form", map[string]any{"drainTimeout": "30 seconds"}, "/drainTimeout"},
		{"stall timeout duration form", map[string]any{"health": map[string]any{"eventWatchStallTimeout": "3"}}, "/health/eventWatchStallTimeout"},
		{"token and existing secret", map[string]any{"mcp": map[string]any{"authToken": "x", "existingSecret": "y"}}, "mutually exclusive"},
		{"replicas without leader election", map[string]any{"replicaCount": 2, "leaderElection": map[string]any{"enabled": false}}, "needs leaderElection.enabled=true"},
		{"grace period too short", map[string]any{"terminationGracePeriodSeconds": 45}, "must exceed gracefulShutdownTimeout"},
		{"shutdown not drain + 10s", map[string]any{"drainTimeout": "1m", "gracefulShutdownTimeout": "65s", "terminationGracePeriodSeconds": 120}, "must be at least drainTimeout"},
		{"no service account name", map[string]any{"serviceAccount": map[string]any{"create": false}}, "serviceAccount.name is required"},
		{"bind address a host name", map[string]any{"bindAddress": "localhost"}, "/bindAddress"},
		{"bind address with a port", map[string]any{"bindAddress": "127.0.0.1:80"}, "/bindAddress"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.values, renderOpts{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func unstructuredString(obj map[string]any, fields ...string) (string, bool, error) {
	v, ok := nested(obj, fields...)
	s, _ := v.(string)
	return s, ok, nil
}

func unstructuredMap(obj map[string]any, fields ...string) (map[string]any, bool, error) {
	v, ok := nested(obj, fields...)
	m, _ := v.(map[string]any)
	return m, ok, nil
}

func unstructuredSlice(obj map[string]any, fields ...string) ([]any, bool, error) {
	v, ok := nested(obj, fields...)
	s, _ := v.([]any)
	return s, ok, nil
}

func unstructuredInt(obj map[string]any, fields ...string) (int64, bool, error) {
	v, ok := nested(obj, fields...)
	switch n := v.(type) {
	case float64:
		return int64(n), ok, nil
	case int64:
		return n, ok, nil
	}
	return 0, ok, nil
}

func nested(obj map[string]any, fields ...string) (any, bool) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[f]; !ok {
			return nil, false
		}
	}
	return cur, true
}
