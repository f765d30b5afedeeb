//go:build e2e && reliability

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"dot-ai.io/controller/api/v1alpha1"
)

// Scenario 7 (security checks): the chart's ServiceAccount has exactly the
// least-privilege table, a namespaced policy never sees another namespace's
// events, and the MCP token never shows up in logs, Events, status or
// metrics.
func (r *rel) testSecurity(t *testing.T) {
	if r.external {
		t.Skip("needs the stub MCP server and the controller on this machine")
	}
	t.Run("can-i table", r.testCanITable)
	t.Run("namespace isolation", r.testNamespaceIsolation)
	t.Run("token never leaks", r.testTokenNeverLeaks)
}

// serviceAccount is the "system:serviceaccount:<ns>:<name>" user of the
// chart's controller Deployment.
func (r *rel) serviceAccount(t *testing.T) string {
	t.Helper()
	list, err := r.kube.AppsV1().Deployments(r.releaseNS).List(t.Context(), metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/instance=" + r.release + ",app.kubernetes.io/component=controller",
	})
	require.NoError(t, err)
	require.Len(t, list.Items, 1, "the chart's controller Deployment")
	sa := list.Items[0].Spec.Template.Spec.ServiceAccountName
	require.NotEmpty(t, sa, "the Deployment names its ServiceAccount")
	return "system:serviceaccount:" + r.releaseNS + ":" + sa
}

func (r *rel) testCanITable(t *testing.T) {
	user := r.serviceAccount(t)
	as := "--as=" + user
	other := r.namespace(t, "sec-other")

	cluster := tableOf(clusterPermissions)
	release := tableOf(clusterPermissions, releasePermissions)
	rows := 0
	for _, tc := range []struct {
		name string
		args []string
		want permTable
	}{
		// --list takes no -A: without -n it reviews the kubeconfig's
		// namespace, where only the ClusterRole applies.
		{"cluster-wide", nil, cluster},
		{"release namespace", []string{"-n", r.releaseNS}, release},
		{"other namespace", []string{"-n", other}, cluster},
	} {
		out, err := r.kubectl("", append([]string{"auth", "can-i", "--list", as}, tc.args...)...)
		require.NoErrorf(t, err, "%s: %s", tc.name, out)
		got, warnings, err := parseCanIList(out)
		require.NoErrorf(t, err, "%s", tc.name)
		for _, w := range warnings {
			t.Logf("%s: kubectl: %s", tc.name, w)
		}
		got = got.withoutBaseline()
		assert.Equalf(t, tc.want.lines(), got.lines(), "%s: `kubectl auth can-i --list %s %s` (baseline rows removed) against the least-privilege table",
			tc.name, as, strings.Join(tc.args, " "))
		// Whatever else differs, Secrets are never enumerable.
		for row, verbs := range got {
			if row.Resource == "secrets" || row.Resource == "*" {
				assert.NotContainsf(t, verbs, "list", "%s: %s", tc.name, row)
				assert.NotContainsf(t, verbs, "watch", "%s: %s", tc.name, row)
				assert.NotContainsf(t, verbs, "*", "%s: %s", tc.name, row)
			}
		}
		for row, verbs := range tc.want {
			if strings.Join(got[row], " ") == strings.Join(verbs, " ") {
				rows++
			}
		}
	}

	// The catalogue, through the API kubectl uses: a SelfSubjectAccessReview
	// while impersonating the ServiceAccount (the apiserver adds its groups).
	cfg := rest.CopyConfig(r.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	cfg.QPS, cfg.Burst = 200, 200
	asSA, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	nsOf := map[string]string{"all": "", releasePlaceholder: r.releaseNS, otherPlaceholder: other, "kube-system": "kube-system"}
	review := func(c canICheck) bool {
		t.Helper()
		resource, group, _ := strings.Cut(c.resource, ".")
		ssar, err := asSA.AuthorizationV1().SelfSubjectAccessReviews().Create(t.Context(), &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: nsOf[c.scope], Verb: c.verb, Group: group, Resource: resource, Subresource: c.subresource,
			}},
		}, metav1.CreateOptions{})
		require.NoErrorf(t, err, "%s", c)
		return ssar.Status.Allowed
	}
	denied, allowed := 0, 0
	for _, c := range slices.Concat(forbiddenChecks(), grantedChecks()) {
		yes := review(c)
		switch {
		case !c.want && assert.Falsef(t, yes, "the controller's ServiceAccount can %s", c):
			denied++
		case c.want && assert.Truef(t, yes, "the chart grants %s, but the review says no", c):
			allowed++
		}
	}

	// The questions through kubectl itself, four at a time.
	type answer struct {
		last, text string
	}
	ask := func(c canICheck) answer {
		args := []string{"auth", "can-i", c.verb, c.resource, as}
		if c.subresource != "" {
			args = append(args, "--subresource="+c.subresource)
		}
		if c.scope == "all" {
			args = append(args, "-A")
		} else {
			args = append(args, "-n", nsOf[c.scope])
		}
		// Exit status 1 means "no"; the answer is the last line (warnings,
		// e.g. about cluster-scoped resources, come first).
		out, _ := r.kubectl("", args...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		last := strings.TrimSpace(lines[len(lines)-1])
		return answer{last: last, text: fmt.Sprintf("`kubectl %s` answered %q", strings.Join(args, " "), out)}
	}
	viaKubectl := kubectlChecks()
	answers := make([]answer, len(viaKubectl))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range next {
				answers[i] = ask(viaKubectl[i])
			}
		})
	}
	for i := range viaKubectl {
		next <- i
	}
	close(next)
	wg.Wait()
	kubectlDenied := 0
	for i, c := range viaKubectl {
		a := answers[i]
		require.Containsf(t, []string{"yes", "no"}, a.last, "%s: not a yes/no answer: %s", c, a.text)
		want := map[bool]string{true: "yes", false: "no"}[c.want]
		if assert.Equalf(t, want, a.last, "%s: %s", c, a.text) && !c.want {
			kubectlDenied++
		}
		assert.Equalf(t, review(c), a.last == "yes", "kubectl and the SelfSubjectAccessReview disagree on %s", c)
	}
	r.figure(t, "%d permission rows match the least-privilege table (cluster-wide, release and other namespace; %d baseline rows ignored); %d forbidden checks denied, %d granted checks allowed (%d of them through kubectl auth can-i, %d denied there)",
		rows, len(baselinePermissions), denied, allowed, len(viaKubectl), kubectlDenied)
}

// awaitPolicyReady waits until the watcher took the policy on: its status
// shows Ready=True for the current generation.
func (r *rel) awaitPolicyReady(t *testing.T, p *v1alpha1.RemediationPolicy) {
	t.Helper()
	var cur *v1alpha1.RemediationPolicy
	ok := waitUntil(t.Context(), 60*time.Second, func() bool {
		cur = r.getPolicy(t, p)
		c := meta.FindStatusCondition(cur.Status.Conditions, v1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue && cur.Status.ObservedGeneration == cur.Generation
	})
	require.Truef(t, ok, "policy %s/%s never became Ready: %+v", p.Namespace, p.Name, cur.Status)
}

func (r *rel) testNamespaceIsolation(t *testing.T) {
	a, b := r.namespace(t, "sec-a"), r.namespace(t, "sec-b")
	// A policy elsewhere with a namespaceSelector could legitimately take
	// B's events; this scenario needs B to have no policy at all.
	var all v1alpha1.RemediationPolicyList
	require.NoError(t, r.c.List(t.Context(), &all))
	clusterPolicies := 0
	for _, p := range all.Items {
		if p.Spec.NamespaceSelector != nil {
			clusterPolicies++
			t.Logf("cluster policy %s/%s present: only requests on behalf of the namespaced policy are checked for B", p.Namespace, p.Name)
		}
	}
	p := r.policy(t, a, "isolated", unlimited)
	require.Nil(t, p.Spec.NamespaceSelector, "a namespaced policy")
	r.awaitPolicyReady(t, p)
	podsA, podsB := r.pods(t, a, 3), r.pods(t, b, 3)

	// B's events are created between A's two halves: once A's last events
	// are delivered, the watcher has seen every B event (one informer, in
	// resourceVersion order).
	namesA := r.stream(t, podsA, "a", 10, r.sc.eventRate, nil)
	namesB := r.stream(t, podsB, "b", 10, r.sc.eventRate, nil)
	namesA = append(namesA, r.stream(t, podsA, "a-late", 10, r.sc.eventRate, nil)...)
	dups := r.awaitAllDelivered(t, a, namesA, 2*time.Minute)

	// Status counts exactly A's events: every one reached an outcome there,
	// none of B's was counted.
	var cur *v1alpha1.RemediationPolicy
	ok := waitUntil(t.Context(), 60*time.Second, func() bool {
		cur = r.getPolicy(t, p)
		return cur.Status.TotalEventsProcessed >= int64(len(namesA))
	})
	require.Truef(t, ok, "status never counted A's %d events: %+v", len(namesA), cur.Status)
	assert.EqualValues(t, len(namesA), cur.Status.TotalEventsProcessed, "totalEventsProcessed counts A's events only")
	assert.EqualValues(t, len(namesA), cur.Status.AnalysesCompleted, "analysesCompleted counts A's events only")
	for _, o := range cur.Status.RecentOutcomes {
		assert.Truef(t, strings.HasPrefix(o.Event, a+"/"), "recent outcome of another namespace: %+v", o)
	}

	byNS := r.policyRequestsBy(a, "isolated", func(q stubRequest) string { return q.eventNamespace })
	assert.Zerof(t, byNS[b], "policy %s/isolated was sent events of namespace %s", a, b)
	assert.Lenf(t, byNS, 1, "requests on behalf of the namespaced policy, by event namespace: %v", byNS)
	assert.GreaterOrEqual(t, byNS[a], len(namesA), "requests on behalf of the namespaced policy for its own namespace")
	if clusterPolicies == 0 {
		assert.Equal(t, len(namesA)+dups, byNS[a], "every request for A's events came from the namespaced policy")
		assert.Emptyf(t, r.received(b), "events of %s reached the MCP stub though no policy covers it", b)
	}
	r.figure(t, "%d of %d events of the policy's namespace delivered (%d duplicates); of %d events of another namespace created before the last of them, %d reached the MCP (%d on behalf of the policy) and %d were counted in its status (%d cluster policies present)",
		len(namesA), len(namesA), dups, len(namesB), len(r.received(b)), byNS[b], cur.Status.TotalEventsProcessed-int64(len(namesA)), clusterPolicies)
}

func (r *rel) testTokenNeverLeaks(t *testing.T) {
	ctx := t.Context()
	token := stubToken
	needles := []string{token, "Bearer " + token, base64.StdEncoding.EncodeToString([]byte(token))}
	leak := func(s string) string {
		for _, n := range needles {
			if strings.Contains(s, n) {
				return n
			}
		}
		return ""
	}

	// Failed deliveries first: a 500 (not retried) and a 401 (Ready=False,
	// MCPUnauthorized), so error paths have written logs, Events and status.
	ns := r.namespace(t, "sec-token")
	p := r.policy(t, ns, "token", unlimited)
	r.awaitPolicyReady(t, p)
	pods := r.pods(t, ns, 2)
	r.stub.InjectError(500, "EXECUTION_ERROR", "injected failure")
	names := r.stream(t, pods[:1], "fail-500", 1, r.sc.eventRate, nil)
	r.awaitAllDelivered(t, ns, names, time.Minute)
	var cur *v1alpha1.RemediationPolicy
	ok := waitUntil(ctx, 60*time.Second, func() bool {
		cur = r.getPolicy(t, p)
		return cur.Status.FailedRemediations >= 1
	})
	require.Truef(t, ok, "the 500 never showed as a failed delivery: %+v", cur.Status)
	r.stub.InjectError(401, "UNAUTHORIZED", "Authentication required")
	names = append(names, r.stream(t, pods[1:], "fail-401", 1, r.sc.eventRate, nil)...)
	r.awaitAllDelivered(t, ns, names, time.Minute)
	ok = waitUntil(ctx, 60*time.Second, func() bool {
		cur = r.getPolicy(t, p)
		c := meta.FindStatusCondition(cur.Status.Conditions, v1alpha1.ConditionReady)
		return cur.Status.FailedRemediations >= 2 && c != nil && c.Reason == v1alpha1.ReasonMCPUnauthorized
	})
	require.Truef(t, ok, "the 401 never showed in status: %+v", cur.Status)
	ok = waitUntil(ctx, 30*time.Second, func() bool {
		evs, err := r.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.AndSelectors(
			fields.OneTermEqualSelector("involvedObject.kind", "RemediationPolicy"),
			fields.OneTermEqualSelector("involvedObject.name", p.Name),
		).String()})
		return err == nil && len(evs.Items) > 0
	})
	require.True(t, ok, "no Kubernetes Event on the policy after its failed deliveries")

	// The token is the one in use: the stub received it.
	sent := 0
	for _, req := range r.stub.Requests() {
		if req.Header.Get("Authorization") == "Bearer "+token {
			sent++
		}
	}
	require.Positive(t, sent, "the stub never received the token: the scan would look for the wrong string")

	// 1. The controller's log.
	logData, err := os.ReadFile(r.ctrl.LogFile)
	require.NoError(t, err)
	logLines := strings.Split(strings.TrimRight(string(logData), "\n"), "\n")
	require.NotEmpty(t, strings.TrimSpace(string(logData)), "the controller logged something")
	for i, l := range logLines {
		if n := leak(l); n != "" {
			assert.Failf(t, "token in the controller log", "%s:%d contains %q: %s", r.ctrl.LogFile, i+1, n, l)
		}
	}
	// Its command line and environment (visible in /proc to the node).
	if n := leak(strings.Join(r.ctrl.Args, " ")); n != "" {
		assert.Failf(t, "token in the controller's arguments", "contains %q", n)
	}
	if env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", r.ctrl.PID())); err == nil {
		if n := leak(string(env)); n != "" {
			assert.Failf(t, "token in the controller's environment", "contains %q", n)
		}
	}

	// 2. Every Event of the cluster (release, work and every other
	// namespace), paged so a storm's leftovers stay cheap.
	events := 0
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := r.admin.CoreV1().Events(metav1.NamespaceAll).List(ctx, opts)
		require.NoError(t, err)
		for i := range list.Items {
			data, err := json.Marshal(&list.Items[i])
			require.NoError(t, err)
			if n := leak(string(data)); n != "" {
				assert.Failf(t, "token in an Event", "Event %s/%s contains %q: %s", list.Items[i].Namespace, list.Items[i].Name, n, data)
			}
			events++
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	require.Positive(t, events)

	// 3. Every RemediationPolicy, as stored (spec, status, annotations).
	out, err := r.kubectl("", "get", "remediationpolicies.remediation.dot-ai.io", "-A", "-o", "json")
	require.NoErrorf(t, err, "%s", out)
	var policies struct {
		Items []json.RawMessage `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &policies))
	require.NotEmpty(t, policies.Items)
	for _, item := range policies.Items {
		if n := leak(string(item)); n != "" {
			assert.Failf(t, "token in a RemediationPolicy", "contains %q: %s", n, item)
		}
	}

	// 4. The release namespace's other objects the controller or the chart
	// write outside the token Secret: the Deployment, the CA ConfigMap, the
	// controller's state (checkpoints, intents), Leases.
	others := 0
	for _, kind := range []string{"deployments.apps", "configmaps", "controllerstates.remediation.dot-ai.io", "leases.coordination.k8s.io", "services"} {
		out, err := r.kubectl("", "get", kind, "-n", r.releaseNS, "-o", "json")
		require.NoErrorf(t, err, "%s", out)
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &list))
		for _, item := range list.Items {
			if n := leak(string(item)); n != "" {
				assert.Failf(t, "token in a release object", "%s contains %q: %s", kind, n, item)
			}
		}
		others += len(list.Items)
	}

	// 5. The metrics endpoint.
	metricsNote := "metrics endpoint not served (metrics off)"
	if r.ctrl.MetricsURL != "" {
		metrics := r.scrape(t)
		if n := leak(metrics); n != "" {
			assert.Failf(t, "token in /metrics", "contains %q", n)
		}
		metricsNote = fmt.Sprintf("%d metrics lines", strings.Count(metrics, "\n"))
	} else {
		t.Log("metrics are off in this installation: /metrics not scanned")
	}
	r.figure(t, "token (sent in %d requests, 2 failed deliveries: 500 and 401) absent from %d log lines, %d Events, %d policy objects, %d release objects, %s, the controller's argv and environment",
		sent, len(logLines), events, len(policies.Items), others, metricsNote)
}
