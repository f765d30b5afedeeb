//go:build e2e && upgrade

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/mcp/mcptest"
	"dot-ai.io/controller/test/e2e/harness"
)

// The upgrade test (issue 15 item 13, make upgrade-test): the previous
// release's chart and binary (built by hack/upgrade/build-previous.sh from the
// commit in hack/upgrade/previous-release into UPGRADE_PREVIOUS_DIR) run a
// namespaced and two cluster-wide policies (one with a label selector); the
// old binary stops gracefully;
// `helm upgrade` installs this tree's chart and this tree's binary takes
// over. Policies, counters and the record of handled occurrences must
// survive: nothing the old controller sent is sent again, and new events are
// delivered. Its assertions read only the policies' status and what the stub
// MCP servers received, so they hold whatever format the controller keeps
// its checkpoint in; assertStateCarriedOver is where a format's own checks go.

// eventsPerPhase is how many events each policy gets before and after the
// upgrade.
const eventsPerPhase = 3

// upgradeRelease is the Helm release name (distinct from the e2e suite's).
const upgradeRelease = "upgrade"

// upgradeRun is one upgrade scenario: the e2e suite's clients and helpers, the
// team namespace the cluster-wide policy selects, and the stub the
// namespaced policy names through the allow-list.
type upgradeRun struct {
	*suite
	prevDir string
	// teamNS holds the events of the cluster-wide policy; labelNS, labelled
	// labelKey, those of the label-selector one.
	teamNS, labelNS string
	// allowed is the stub reached through mcp.allowedEndpoints' /* entry.
	allowed    *mcptest.Server
	valuesFile string
	tmp        string
}

// upgradePolicy is a policy of the scenario and where its events go.
type upgradePolicy struct {
	key client.ObjectKey
	// eventNS holds the pod its events are about.
	eventNS string
	pod     *corev1.Pod
	uid     types.UID
}

func TestUpgrade(t *testing.T) {
	prev := os.Getenv("UPGRADE_PREVIOUS_DIR")
	require.NotEmptyf(t, prev, "UPGRADE_PREVIOUS_DIR is unset: run `make upgrade-test`, which builds the previous release")
	u := newUpgradeRun(t, prev)
	ctx := t.Context()

	// 1. The previous release: its chart (the /* allow-list syntax in the
	// values) and its binary.
	u.helm(t, "install", u.release, filepath.Join(u.prevDir, "chart"), "--namespace", u.releaseNS,
		"--wait", "--timeout", "120s", "--take-ownership", "-f", u.valuesFile, "-f", filepath.Join(u.root, kwokPlacementFile))
	t.Cleanup(func() {
		if out, err := u.helmOut("uninstall", u.release, "--namespace", u.releaseNS, "--wait", "--timeout", "60s"); err != nil {
			t.Logf("helm uninstall: %v\n%s", err, out)
		}
	})
	old := u.startController(t, filepath.Join(u.prevDir, "dot-ai-controller"), "previous")
	u.waitWebhookServing(t)
	policies := []*upgradePolicy{
		u.applyPolicy(t, u.workNS, "tenant", u.workNS, "  mcpEndpoint: "+u.allowed.URL()+"\n"),
		// All namespaces, narrowed to the team's by the event selector: the
		// previous release cached namespaces without their labels, so a
		// matchLabels selector never matched there.
		u.applyPolicy(t, u.releaseNS, "platform", u.teamNS, "  namespaceSelector: {}\n"),
	}
	// A label selector matched nothing in the previous release (it cached
	// namespaces without their labels); its events before the upgrade are
	// not waited for, only never sent twice.
	labelled := u.applyPolicy(t, u.releaseNS, "labelled", u.labelNS,
		fmt.Sprintf("  namespaceSelector: {matchLabels: {%s: %s}}\n", labelKey, u.labelNS))
	for _, p := range append(policies, labelled) {
		u.emit(t, p, "before")
	}
	u.awaitDelivered(t, policies, eventsPerPhase, old)
	before := u.awaitCounters(t, policies, eventsPerPhase)
	require.NoError(t, old.Stop(), "the previous release stops gracefully (SIGTERM)")

	// 2. A host wildcard in the allow-list stops the upgrade with the chart's
	// message; the release stays as it was.
	out, err := u.helmOut("upgrade", u.release, filepath.Join(u.root, "charts", "dot-ai-controller"), "--namespace", u.releaseNS,
		"-f", u.valuesFile, "-f", filepath.Join(u.root, kwokPlacementFile), "--set", "mcp.allowedEndpoints={https://*.svc.cluster.local/*}")
	require.Errorf(t, err, "a host wildcard in mcp.allowedEndpoints must fail the upgrade:\n%s", out)
	assert.Contains(t, string(out), "mcp.allowedEndpoints[0]: host wildcards and '*' inside an entry are not allowed")
	assert.Equal(t, 1, u.revision(t), "the failed upgrade left the release at its first revision")

	// 3. helm upgrade to this tree's chart with the same values (the /* entry
	// still installs), then this tree's binary. --take-ownership: CRDs the
	// previous release lacks may be kept from an earlier release (make e2e's).
	u.helm(t, "upgrade", u.release, filepath.Join(u.root, "charts", "dot-ai-controller"), "--namespace", u.releaseNS,
		"--wait", "--timeout", "120s", "--take-ownership", "-f", u.valuesFile, "-f", filepath.Join(u.root, kwokPlacementFile))
	assert.Equal(t, 2, u.revision(t))
	cur := u.startController(t, currentBinary(u.root), "current")
	u.waitWebhookServing(t)
	// Occurrences the previous release handled are listed again by the new
	// Event informer; once its initial list is through, any resend is queued
	// ahead of the events below.
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(cur.LogFile)
		return err == nil && strings.Contains(string(data), "Started event watcher")
	}, 60*time.Second, 200*time.Millisecond, "the current controller never started its event watcher; log: %s", cur.LogFile)

	for _, p := range append(policies, labelled) {
		var got v1alpha1.RemediationPolicy
		require.NoError(t, u.c.Get(ctx, p.key, &got))
		assert.Equalf(t, p.uid, got.UID, "policy %s kept (same UID)", p.key)
		assertCountersNotBelow(t, p.key, before[p.key], got.Status)
	}

	// 4. New events reach dot-ai; the counters go on from where they were.
	for _, p := range append(policies, labelled) {
		u.emit(t, p, "after")
	}
	u.awaitDelivered(t, policies, 2*eventsPerPhase, cur)
	after := u.awaitCounters(t, policies, 2*eventsPerPhase)
	for _, p := range policies {
		assertCountersNotBelow(t, p.key, before[p.key], after[p.key])
	}
	u.awaitEvents(t, labelled, "after", cur)
	got, err := u.perPolicy()
	require.NoError(t, err)
	t.Logf("label-selector policy: %d of its %d events from before the upgrade delivered after it",
		got[labelled.key.String()]-eventsPerPhase, eventsPerPhase)
	u.awaitCounters(t, []*upgradePolicy{labelled}, int64(got[labelled.key.String()]))
	u.assertNoResend(t)
	assertStateCarriedOver(t, u.c, u.releaseNS, append(policies, labelled))
}

// currentBinary is this tree's controller binary: UPGRADE_CURRENT_BINARY
// (make upgrade-test builds a copy of its own), else bin/dot-ai-controller.
func currentBinary(root string) string {
	if b := os.Getenv("UPGRADE_CURRENT_BINARY"); b != "" {
		return b
	}
	return filepath.Join(root, "bin", "dot-ai-controller")
}

// labelKey labels the namespace the label-selector policy selects.
const labelKey = "upgrade.dot-ai.io/team"

// newUpgradeRun connects to the cluster, creates the namespaces (each with a
// pod the events are about), starts both stubs and writes the values file
// both charts are installed with.
func newUpgradeRun(t *testing.T, prevDir string) *upgradeRun {
	t.Helper()
	s := &suite{root: repoRoot(), release: upgradeRelease}
	s.kubeconfig = os.Getenv("KUBECONFIG")
	if s.kubeconfig == "" {
		s.kubeconfig = filepath.Join(s.root, ".cache", "cluster", "kubeconfig")
	}
	var err error
	s.cfg, err = clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	require.NoErrorf(t, err, "kubeconfig %s: run `make cluster-up` (or `make upgrade-test`, which does)", s.kubeconfig)
	s.cfg.UserAgent = "dot-ai-upgrade"
	s.kube, err = kubernetes.NewForConfig(s.cfg)
	require.NoError(t, err)
	scheme := kruntime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(scheme))
	require.NoError(t, v1alpha1.AddToScheme(scheme))
	s.c, err = client.New(s.cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)

	suffix := randSuffix()
	// Kept after the run: the controllers' logs for a failure's post-mortem.
	u := &upgradeRun{suite: s, prevDir: prevDir, tmp: filepath.Join(s.root, ".cache", "upgrade", "runs", suffix)}
	require.NoError(t, os.MkdirAll(u.tmp, 0o700))
	u.releaseNS, u.workNS, u.teamNS, u.labelNS = "dot-ai-upgrade-"+suffix, "tenant-upgrade-"+suffix, "team-upgrade-"+suffix, "labelled-upgrade-"+suffix
	for _, ns := range []string{u.releaseNS, u.workNS, u.teamNS, u.labelNS} {
		obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if ns == u.labelNS {
			obj.Labels = map[string]string{labelKey: ns}
		}
		_, err := u.kube.CoreV1().Namespaces().Create(t.Context(), obj, metav1.CreateOptions{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = u.kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	}

	for _, stub := range []**mcptest.Server{&u.stub, &u.allowed} {
		*stub = mcptest.New(mcptest.Options{Token: stubToken})
		require.NoError(t, (*stub).Start("127.0.0.1:0"))
		t.Cleanup(func() { _ = (*stub).Close() })
	}
	// The values a user carries from the previous release to this one. The
	// allow-list entry ends in /*: the previous release read it as a raw
	// prefix, this one as a path prefix (docs/design/decisions.md#d19).
	values := fmt.Sprintf(`mcp:
  endpoint: %s
  authToken: %s
  allowedEndpoints: ["%s/*"]
leaderElection: {leaseDuration: 5s, renewDeadline: 3s, retryPeriod: 1s}
logLevel: debug
`, u.stub.BaseURL(), stubToken, u.allowed.BaseURL())
	u.valuesFile = filepath.Join(u.tmp, "values.yaml")
	require.NoError(t, os.WriteFile(u.valuesFile, []byte(values), 0o600))
	return u
}

// startController runs bin as the release's Deployment configures it; the
// harness rewrites the previous release's args as it does the current ones
// (the flags it rewrites kept their names).
func (u *upgradeRun) startController(t *testing.T, bin, name string) *harness.Controller {
	t.Helper()
	_, err := os.Stat(bin)
	require.NoErrorf(t, err, "controller binary %s", bin)
	logw := &testLogWriter{t: t}
	ctrl, err := harness.Start(t.Context(), harness.Options{
		Config: u.cfg, Namespace: u.releaseNS, Release: u.release, Binary: bin,
		WorkDir: filepath.Join(u.tmp, name), Log: logw,
	})
	require.NoErrorf(t, err, "running the %s controller as the Deployment configures it", name)
	t.Cleanup(func() {
		logw.stop()
		assert.NoError(t, ctrl.Stop())
	})
	return ctrl
}

// applyPolicy creates a manual-mode policy in ns selecting BackOff events of
// Pods (every one delivered: no rate limit, no cooldown) with extraSpec, and
// a pod in eventNS for its events.
func (u *upgradeRun) applyPolicy(t *testing.T, ns, name, eventNS, extraSpec string) *upgradePolicy {
	t.Helper()
	doc := fmt.Sprintf(`apiVersion: remediation.dot-ai.io/v1alpha1
kind: RemediationPolicy
metadata: {name: %s, namespace: %s}
spec:
  eventSelectors: [{type: Warning, reason: BackOff, involvedObjectKind: Pod, namespace: %s}]
  contextGathering: {includeLogs: false, includeRelatedEvents: false}
  rateLimiting: {eventsPerMinute: 10000, cooldownMinutes: 0}
%s`, name, ns, eventNS, extraSpec)
	out, err := u.kubectl(doc, "apply", "-f", "-")
	require.NoErrorf(t, err, "%s", out)
	p := &upgradePolicy{key: client.ObjectKey{Namespace: ns, Name: name}, eventNS: eventNS}
	var got v1alpha1.RemediationPolicy
	require.NoError(t, u.c.Get(t.Context(), p.key, &got))
	p.uid = got.UID
	p.pod = u.pod(t, eventNS, name)
	return p
}

// pod creates a pod (kwok runs it) once the namespace's default
// ServiceAccount exists.
func (u *upgradeRun) pod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	require.Eventually(t, func() bool {
		var err error
		pod, err = u.kube.CoreV1().Pods(ns).Create(t.Context(), &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       u.onKwok(t, corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "localhost/app:1"}}}),
		}, metav1.CreateOptions{})
		return err == nil
	}, time.Minute, 200*time.Millisecond, "creating pod %s/%s", ns, name)
	return pod
}

// emit creates eventsPerPhase Warning BackOff Events on the policy's pod,
// named <policy>-<phase>-<i>.
func (u *upgradeRun) emit(t *testing.T, p *upgradePolicy, phase string) {
	t.Helper()
	for i := range eventsPerPhase {
		name := fmt.Sprintf("%s-%s-%d", p.key.Name, phase, i)
		now := metav1.Now()
		_, err := u.kube.CoreV1().Events(p.eventNS).Create(t.Context(), &corev1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: p.eventNS, Name: p.pod.Name, UID: p.pod.UID,
				FieldPath: "spec.containers{app}"},
			Type: corev1.EventTypeWarning, Reason: "BackOff",
			Message:        fmt.Sprintf("Back-off restarting failed container app in pod %s [%s]", p.pod.Name, name),
			Source:         corev1.EventSource{Component: "kubelet", Host: "kwok-node-0"},
			FirstTimestamp: now, LastTimestamp: now, Count: 1,
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
}
