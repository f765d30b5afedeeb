package v1alpha1

// containerStatusReasons are reasons the kubelet reports in a container's
// status, not as Event reasons (a crash loop is the Event reason BackOff and
// the container-status reason CrashLoopBackOff). A selector reason from this
// set also matches a Warning event of a Pod whose container status shows it,
// so policies written for the product spec's examples work on real clusters.
var containerStatusReasons = map[string]bool{
	"CrashLoopBackOff":           true,
	"OOMKilled":                  true,
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"InvalidImageName":           true,
	"ContainerCannotRun":         true,
	"RunContainerError":          true,
	"Error":                      true,
	"DeadlineExceeded":           true,
}

// IsContainerStatusReason reports whether reason is a container-status reason
// rather than an Event reason.
func IsContainerStatusReason(reason string) bool { return containerStatusReasons[reason] }
