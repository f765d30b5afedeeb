package webhook

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"dot-ai.io/controller/internal/policy"
)

// AccessReviewer creates SubjectAccessReviews (the typed client's
// AuthorizationV1().SubjectAccessReviews() is one).
type AccessReviewer interface {
	Create(ctx context.Context, sar *authorizationv1.SubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error)
}

// DefaultReviewTimeout bounds all the access reviews of one admission
// request together; the chart's webhook timeout is longer.
const DefaultReviewTimeout = 5 * time.Second

// MsgAccessDenied is the rejection of a policy whose author may not do what
// the policy would have the controller do for them; it names the access and
// why, never the endpoint or a Secret's value.
const MsgAccessDenied = "you may not %s, which this policy needs: %s (the controller must not read for you what you may not read; see docs/security.md)"

// errReviewFailed is returned when an access review could not be made: the
// request is refused (fail closed) with a status the client may retry.
var errReviewFailed = errors.New("could not check the requesting user's access (SubjectAccessReview failed); " +
	"the policy was not admitted, try again (the controller's log has the cause)")

// reviewAccess asks, concurrently and within timeout, whether user may do
// each of checks, and returns a Forbidden error on the check's field for
// each one denied. Any review that fails returns errReviewFailed: an
// unanswered check never admits.
func reviewAccess(ctx context.Context, r AccessReviewer, timeout time.Duration, user authenticationv1.UserInfo, checks []policy.AccessCheck) (field.ErrorList, error) {
	if len(checks) == 0 {
		return nil, nil
	}
	attrs := make([]authorizationv1.ResourceAttributes, len(checks))
	for i, c := range checks {
		attrs[i] = c.Attributes
	}
	allowed, err := askAccess(ctx, r, timeout, user, attrs)
	if err != nil {
		logf.FromContext(ctx).Error(err, "Access review failed", "user", user.Username)
		return nil, errReviewFailed
	}
	var errs field.ErrorList
	for i, c := range checks {
		if !allowed[i] {
			errs = append(errs, field.Forbidden(c.Field, fmt.Sprintf(MsgAccessDenied, c.Describe(), c.Reason)))
		}
	}
	return errs, nil
}

// askAccess asks, concurrently and within timeout, whether user (with its
// groups, UID and extra, so group grants count) may do each of attrs. It
// fails if any review fails: an unanswered question never allows.
func askAccess(ctx context.Context, r AccessReviewer, timeout time.Duration, user authenticationv1.UserInfo, attrs []authorizationv1.ResourceAttributes) ([]bool, error) {
	if r == nil {
		return nil, errors.New("no access reviewer configured")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	allowed := make([]bool, len(attrs))
	failed := make([]error, len(attrs))
	var wg sync.WaitGroup
	for i := range attrs {
		wg.Go(func() {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				ResourceAttributes: &attrs[i],
				User:               user.Username,
				Groups:             user.Groups,
				UID:                user.UID,
				Extra:              extra,
			}}
			res, err := r.Create(ctx, sar, metav1.CreateOptions{})
			if err != nil {
				failed[i] = err
				return
			}
			allowed[i] = res.Status.Allowed && !res.Status.Denied
		})
	}
	wg.Wait()
	if err := errors.Join(failed...); err != nil {
		return nil, err
	}
	return allowed, nil
}
