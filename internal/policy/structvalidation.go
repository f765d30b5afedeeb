package policy

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-playground/validator/v10"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"dot-ai.io/controller/api/v1alpha1"
)

// The struct-level bounds and enums of the API types are checked with
// go-playground/validator. The API types carry no validate tags (their bounds
// are kubebuilder markers for the CRD schema), so the rules are registered
// here per type and field; they mirror the CRD markers so a user gets the
// webhook's message, which names every failing field at once.

var (
	mcpToolPattern = regexp.MustCompile(v1alpha1.McpToolPattern)
	kindPattern    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)
)

// Names of the custom validator tags.
const (
	tagK8sName   = "k8sname"   // DNS-1123 subdomain (Secret name)
	tagK8sLabel  = "k8slabel"  // DNS-1123 label (namespace)
	tagSecretKey = "secretkey" // Secret data key
	tagMcpTool   = "mcptool"
	tagKind      = "kind"
)

var structValidator = newStructValidator()

func newStructValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	mustRegister := func(tag string, fn func(string) bool) {
		if err := v.RegisterValidation(tag, func(fl validator.FieldLevel) bool { return fn(fl.Field().String()) }); err != nil {
			panic(err)
		}
	}
	mustRegister(tagK8sName, func(s string) bool { return len(validation.IsDNS1123Subdomain(s)) == 0 })
	mustRegister(tagK8sLabel, func(s string) bool { return len(validation.IsDNS1123Label(s)) == 0 })
	mustRegister(tagSecretKey, func(s string) bool { return len(validation.IsConfigMapKey(s)) == 0 })
	mustRegister(tagMcpTool, mcpToolPattern.MatchString)
	mustRegister(tagKind, kindPattern.MatchString)

	// The rules mirror the CRD markers; the bounds come from api/v1alpha1.
	const (
		modes = "oneof=manual automatic"
		risks = "oneof=low medium high"
	)
	confidence := fmt.Sprintf("omitempty,gte=%v,lte=%v", v1alpha1.MinConfidenceThreshold, v1alpha1.MaxConfidenceThreshold)
	maxLen := func(n int) string { return fmt.Sprintf("max=%d", n) }
	between := func(lo, hi int) string { return fmt.Sprintf("omitempty,gte=%d,lte=%d", lo, hi) }
	v.RegisterStructValidationMapRules(map[string]string{
		"EventSelectors":          maxLen(v1alpha1.MaxEventSelectors) + ",dive",
		"ExcludeSelectors":        maxLen(v1alpha1.MaxExcludeSelectors) + ",dive",
		"McpEndpoint":             maxLen(v1alpha1.MaxEndpointLength),
		"McpTool":                 "omitempty," + maxLen(v1alpha1.MaxMcpToolLength) + "," + tagMcpTool,
		"Mode":                    "omitempty," + modes,
		"ConfidenceThreshold":     confidence,
		"MaxRiskLevel":            "omitempty," + risks,
		"MinOccurrences":          between(v1alpha1.MinMinOccurrences, v1alpha1.MaxMinOccurrences),
		"OccurrenceWindowSeconds": between(v1alpha1.MinOccurrenceWindowSeconds, v1alpha1.MaxOccurrenceWindowSeconds),
	}, v1alpha1.RemediationPolicySpec{})
	v.RegisterStructValidationMapRules(map[string]string{
		"Type":                    "omitempty,oneof=Normal Warning",
		"Reason":                  maxLen(v1alpha1.MaxSelectorReasonLength),
		"InvolvedObjectKind":      "omitempty," + maxLen(v1alpha1.MaxSelectorKindLength) + "," + tagKind,
		"Namespace":               "omitempty," + maxLen(v1alpha1.MaxSelectorNamespaceLength) + "," + tagK8sLabel,
		"Message":                 maxLen(v1alpha1.MaxSelectorMessageLength),
		"Expression":              maxLen(v1alpha1.MaxExpressionLength),
		"Mode":                    "omitempty," + modes,
		"ConfidenceThreshold":     confidence,
		"MaxRiskLevel":            "omitempty," + risks,
		"MinOccurrences":          between(v1alpha1.MinMinOccurrences, v1alpha1.MaxMinOccurrences),
		"OccurrenceWindowSeconds": between(v1alpha1.MinOccurrenceWindowSeconds, v1alpha1.MaxOccurrenceWindowSeconds),
	}, v1alpha1.EventSelector{})
	v.RegisterStructValidationMapRules(map[string]string{
		"LogLines":        between(v1alpha1.MinLogLines, v1alpha1.MaxLogLines),
		"MaxLogBytes":     between(v1alpha1.MinMaxLogBytes, v1alpha1.MaxMaxLogBytes),
		"LookbackMinutes": between(v1alpha1.MinLookbackMinutes, v1alpha1.MaxLookbackMinutes),
	}, v1alpha1.ContextGathering{})
	v.RegisterStructValidationMapRules(map[string]string{
		"Name": "required," + maxLen(v1alpha1.MaxSecretRefNameLength) + "," + tagK8sName,
		"Key":  "required," + maxLen(v1alpha1.MaxSecretRefKeyLength) + "," + tagSecretKey,
	}, v1alpha1.SecretKeyReference{})
	v.RegisterStructValidationMapRules(map[string]string{
		"Outcomes": maxLen(v1alpha1.MaxNotificationFilterKinds) + ",unique,dive,oneof=analyses remediations failures",
		"MinRisk":  "omitempty," + risks,
	}, v1alpha1.NotificationFilter{})
	v.RegisterStructValidationMapRules(map[string]string{
		"EventsPerMinute": between(v1alpha1.MinEventsPerMinute, v1alpha1.MaxEventsPerMinute),
		"CooldownMinutes": between(v1alpha1.MinCooldownMinutes, v1alpha1.MaxCooldownMinutes),
	}, v1alpha1.RateLimiting{})
	return v
}

// validateStruct runs the registered rules over spec and returns the failures
// as field errors under specPath.
func validateStruct(spec *v1alpha1.RemediationPolicySpec, specPath *field.Path) field.ErrorList {
	err := structValidator.Struct(spec)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return field.ErrorList{field.InternalError(specPath, err)}
	}
	errs := make(field.ErrorList, 0, len(verrs))
	for _, fe := range verrs {
		errs = append(errs, toFieldError(fe, specPath))
	}
	return errs
}

// fieldPath turns a validator namespace such as
// "RemediationPolicySpec.eventSelectors[0].mode" into a field path below root.
func fieldPath(root *field.Path, namespace string) *field.Path {
	parts := strings.Split(namespace, ".")
	p := root
	for _, part := range parts[1:] { // parts[0] is the root struct's type name
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			p = p.Child(name)
		}
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			if i, err := strconv.Atoi(idx); err == nil {
				p = p.Index(i)
			} else {
				p = p.Key(idx)
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return p
}

func toFieldError(fe validator.FieldError, root *field.Path) *field.Error {
	path := fieldPath(root, fe.Namespace())
	value := derefValue(fe.Value())
	param := fe.Param()
	switch fe.Tag() {
	case "required":
		return field.Required(path, "")
	case "min":
		if fe.Kind() == reflect.Slice {
			return field.Required(path, fmt.Sprintf("must have at least %s item(s)", param))
		}
		return field.Invalid(path, value, "must be at least "+param+" characters long")
	case "max":
		n, _ := strconv.Atoi(param)
		if fe.Kind() == reflect.Slice {
			return field.TooMany(path, reflect.ValueOf(fe.Value()).Len(), n)
		}
		return field.TooLong(path, value, n)
	case "oneof":
		return field.NotSupported(path, value, strings.Fields(param))
	case "gte":
		return field.Invalid(path, value, "must be greater than or equal to "+param)
	case "lte":
		return field.Invalid(path, value, "must be less than or equal to "+param)
	case tagK8sName:
		return field.Invalid(path, value, strings.Join(validation.IsDNS1123Subdomain(fmt.Sprint(value)), "; "))
	case tagK8sLabel:
		return field.Invalid(path, value, strings.Join(validation.IsDNS1123Label(fmt.Sprint(value)), "; "))
	case tagSecretKey:
		return field.Invalid(path, value, strings.Join(validation.IsConfigMapKey(fmt.Sprint(value)), "; "))
	case tagMcpTool:
		return field.Invalid(path, value, MsgMcpToolPattern)
	case tagKind:
		return field.Invalid(path, value, MsgKindPattern)
	}
	return field.Invalid(path, value, fmt.Sprintf("fails rule %q", fe.ActualTag()))
}

// derefValue reports pointer values as the value they point to, so error
// messages show 2 rather than an address.
func derefValue(v any) any {
	rv := reflect.ValueOf(v)
	for rv.IsValid() && rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return nil
	}
	if rv.Kind() == reflect.String {
		return rv.String()
	}
	return rv.Interface()
}
