// Package celevent compiles and evaluates the CEL expressions of
// RemediationPolicy event selectors (decision 8 (docs/design/decisions.md#d8)).
//
// An expression sees two variables. event is shaped like a core/v1 Event:
//
//	event.metadata.{name,namespace,uid}
//	event.involvedObject.{kind,name,namespace,uid,apiVersion,fieldPath}
//	event.reason, event.message, event.type, event.count
//	event.source.{component,host}
//	event.reportingComponent, event.reportingInstance, event.action
//	event.firstTimestamp, event.lastTimestamp, event.eventTime (timestamps)
//	event.series.{count,lastObservedTime}
//
// These are the fields the watcher's Event cache keeps. The Event's own
// labels and annotations are not among them (the cache drops them, and
// recorders rarely set them), so an expression that names them is rejected
// at compile time ("undefined field 'labels'") rather than admitted to never
// match.
//
// object is the involved object's metadata, as the watcher's caches keep it:
//
//	object.metadata.{name,namespace,uid}
//	object.metadata.labels, object.metadata.annotations (map(string, string))
//	object.metadata.ownerReferences[].{apiVersion,kind,name,uid,controller}
//
// The caches hold Pods, ReplicaSets, Deployments, StatefulSets, DaemonSets,
// Jobs, CronJobs and Namespaces; for any other kind, and for an object not
// (or no longer) cached, object's fields are empty. Annotations longer than
// MaxAnnotationValue bytes are not kept.
//
// Every field is always present, so no has() guard is needed: an unset string
// is "", an unset number is 0 and an unset time is
// timestamp("0001-01-01T00:00:00Z").
//
// Expressions must return bool. Their cost is bounded twice: the estimated
// worst-case cost over the declared field bounds must not exceed
// MaxEstimatedCost at compile time, and an evaluation that exceeds
// MaxRuntimeCost is aborted with an error.
package celevent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/version"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/apiserver/pkg/cel/library"
	"k8s.io/apiserver/pkg/cel/openapi"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/utils/lru"

	"dot-ai.io/controller/api/v1alpha1"
)

const (
	// VariableName is the name of the variable holding the Event.
	VariableName = "event"

	// ObjectVariableName is the name of the variable holding the involved
	// object's metadata.
	ObjectVariableName = "object"

	// MaxAnnotationValue is the longest annotation value the watcher's caches
	// keep (and object shows); longer ones (last-applied configurations,
	// embedded JSON) are dropped to bound memory.
	MaxAnnotationValue = 512

	// MaxEstimatedCost bounds the worst-case cost CEL estimates for an
	// expression at compile time, in CEL cost units. It is the apiserver's
	// per-call limit for CRD validation rules (about 0.1 s of CPU); typical
	// selector expressions estimate at a few thousand.
	MaxEstimatedCost = 1_000_000

	// MaxRuntimeCost bounds the cost of one evaluation. It catches events
	// larger than the declared bounds (for example a message far longer than
	// maxMessageLength).
	MaxRuntimeCost = 1_000_000

	// MaxExpressionLength is the CRD's maxLength of selector expressions.
	MaxExpressionLength = v1alpha1.MaxExpressionLength
)

// Bounds used for cost estimation. Real values may be larger; the runtime
// cost limit still applies to them.
const (
	maxNameLength       = 253
	maxMessageLength    = 4096
	maxShortString      = 128
	maxLabelValue       = 63
	maxMapEntries       = 64
	maxOwnerReferences  = 8
	zeroTimeRFC3339     = "0001-01-01T00:00:00Z"
	compatibilityMajor  = 1
	compatibilityMinor  = 33
	typeNameForEventVar = "io.dot-ai.celevent.Event"
	typeNameForObjVar   = "io.dot-ai.celevent.Object"
)

// Program is a compiled selector expression. It is safe for concurrent use.
type Program struct {
	expr    string
	program cel.Program
	// MaxCost is the estimated worst-case cost of the expression.
	MaxCost uint64
}

// String returns the source expression.
func (p *Program) String() string { return p.expr }

type compiler struct {
	env       *cel.Env
	estimator *library.CostEstimator
}

var (
	compilerOnce sync.Once
	theCompiler  *compiler
	compilerErr  error
)

func getCompiler() (*compiler, error) {
	compilerOnce.Do(func() {
		theCompiler, compilerErr = newCompiler()
	})
	return theCompiler, compilerErr
}

func newCompiler() (*compiler, error) {
	declType := openapi.SchemaDeclType(eventSchema, false)
	if declType == nil {
		return nil, errors.New("event schema has no CEL type")
	}
	declType = declType.MaybeAssignTypeName(typeNameForEventVar)
	objType := openapi.SchemaDeclType(objectSchema, false)
	if objType == nil {
		return nil, errors.New("object schema has no CEL type")
	}
	objType = objType.MaybeAssignTypeName(typeNameForObjVar)
	// A fixed compatibility version keeps the set of CEL libraries stable
	// whatever apiserver library version the controller is built with.
	base := environment.MustBaseEnvSet(version.MajorMinor(compatibilityMajor, compatibilityMinor))
	envSet, err := base.Extend(environment.VersionedOptions{
		IntroducedVersion: version.MajorMinor(1, 0),
		EnvOptions: []cel.EnvOption{
			cel.Variable(VariableName, declType.CelType()),
			cel.Variable(ObjectVariableName, objType.CelType()),
		},
		DeclTypes: []*apiservercel.DeclType{declType, objType},
	})
	if err != nil {
		return nil, fmt.Errorf("building CEL environment: %w", err)
	}
	env, err := envSet.Env(environment.NewExpressions)
	if err != nil {
		return nil, fmt.Errorf("building CEL environment: %w", err)
	}
	roots := map[string]*apiservercel.DeclType{VariableName: declType, ObjectVariableName: objType}
	return &compiler{
		env:       env,
		estimator: &library.CostEstimator{SizeEstimator: &sizeEstimator{roots: roots}},
	}, nil
}

// compiled remembers recent compilations, failed ones included. The webhook
// compiles every selector expression on every create and update, and GitOps
// tools re-apply the same policies over and over; parsing, checking and
// planning cost about 0.4 ms of CPU per expression, taken from the apiserver
// on small control planes. A Program is immutable, so callers can share one.
var compiled = lru.New(compileCacheSize)

// compileCacheSize bounds the cache: at most 4 KiB of source per entry plus
// its program, a few MiB in all.
const compileCacheSize = 256

type compileResult struct {
	program *Program
	err     error
}

// Compile compiles expr. The error explains syntax errors, unknown fields, a
// non-bool result and an estimated cost above MaxEstimatedCost. Results are
// cached by source text.
func Compile(expr string) (*Program, error) {
	if len(expr) > MaxExpressionLength {
		return nil, fmt.Errorf("expression is %d bytes long, the limit is %d", len(expr), MaxExpressionLength)
	}
	if r, ok := compiled.Get(expr); ok {
		res := r.(compileResult)
		return res.program, res.err
	}
	prg, err := compile(expr)
	compiled.Add(expr, compileResult{program: prg, err: err})
	return prg, err
}

func compile(expr string) (*Program, error) {
	c, err := getCompiler()
	if err != nil {
		return nil, err
	}
	ast, issues := c.env.Compile(expr)
	if issues != nil && issues.Err() != nil {
		return nil, fmt.Errorf("compilation failed: %s", issues.String())
	}
	if ast.OutputType() != cel.BoolType {
		return nil, fmt.Errorf("expression must return bool, it returns %s", cel.FormatCELType(ast.OutputType()))
	}
	est, err := c.env.EstimateCost(ast, c.estimator)
	if err != nil {
		return nil, fmt.Errorf("cost estimation failed: %w", err)
	}
	if est.Max > MaxEstimatedCost {
		return nil, fmt.Errorf("estimated cost %d exceeds the limit of %d: use fewer list/map macros or more selective fields", est.Max, MaxEstimatedCost)
	}
	prg, err := c.env.Program(ast,
		cel.CostLimit(MaxRuntimeCost),
		cel.CostTracking(c.estimator),
		cel.InterruptCheckFrequency(100),
	)
	if err != nil {
		return nil, fmt.Errorf("program instantiation failed: %w", err)
	}
	return &Program{expr: expr, program: prg, MaxCost: est.Max}, nil
}

// Matches evaluates the expression against ev and its involved object's
// metadata obj (nil: unknown, every field empty). It returns an error when
// the evaluation fails (for example a missing map key, or the runtime cost
// limit is exceeded) or ctx is cancelled; it never panics.
func (p *Program) Matches(ctx context.Context, ev *corev1.Event, obj *metav1.ObjectMeta) (ok bool, err error) {
	if p == nil || p.program == nil {
		return false, errors.New("nil program")
	}
	if ev == nil {
		return false, errors.New("nil event")
	}
	defer func() {
		if r := recover(); r != nil {
			ok, err = false, fmt.Errorf("evaluating expression: panic: %v", r)
		}
	}()
	val := openapi.UnstructuredToVal(EventToUnstructured(ev), eventSchema)
	objVal := openapi.UnstructuredToVal(ObjectToUnstructured(obj), objectSchema)
	out, _, err := p.program.ContextEval(ctx, map[string]any{VariableName: val, ObjectVariableName: objVal})
	if err != nil {
		return false, fmt.Errorf("evaluating expression: %w", err)
	}
	b, isBool := out.Value().(bool)
	if !isBool {
		return false, fmt.Errorf("expression returned %T, not bool", out.Value())
	}
	return b, nil
}

// EventToUnstructured returns the map the expression sees as event. Unset
// fields are filled with zero values so every declared field is present.
func EventToUnstructured(ev *corev1.Event) map[string]any {
	return map[string]any{
		"metadata": map[string]any{
			"name":      ev.Name,
			"namespace": ev.Namespace,
			"uid":       string(ev.UID),
		},
		"involvedObject": map[string]any{
			"kind":       ev.InvolvedObject.Kind,
			"name":       ev.InvolvedObject.Name,
			"namespace":  ev.InvolvedObject.Namespace,
			"uid":        string(ev.InvolvedObject.UID),
			"apiVersion": ev.InvolvedObject.APIVersion,
			"fieldPath":  ev.InvolvedObject.FieldPath,
		},
		"reason":  ev.Reason,
		"message": ev.Message,
		"type":    ev.Type,
		"count":   int64(ev.Count),
		"source": map[string]any{
			"component": ev.Source.Component,
			"host":      ev.Source.Host,
		},
		"reportingComponent": ev.ReportingController,
		"reportingInstance":  ev.ReportingInstance,
		"action":             ev.Action,
		"firstTimestamp":     timeString(ev.FirstTimestamp.Time),
		"lastTimestamp":      timeString(ev.LastTimestamp.Time),
		"eventTime":          timeString(ev.EventTime.Time),
		"series":             seriesMap(ev.Series),
	}
}

// ObjectToUnstructured returns the map the expression sees as object. nil
// gives empty fields, so every declared field is present.
func ObjectToUnstructured(m *metav1.ObjectMeta) map[string]any {
	if m == nil {
		m = &metav1.ObjectMeta{}
	}
	refs := make([]any, 0, len(m.OwnerReferences))
	for _, r := range m.OwnerReferences {
		refs = append(refs, map[string]any{
			"apiVersion": r.APIVersion,
			"kind":       r.Kind,
			"name":       r.Name,
			"uid":        string(r.UID),
			"controller": r.Controller != nil && *r.Controller,
		})
	}
	return map[string]any{"metadata": map[string]any{
		"name":            m.Name,
		"namespace":       m.Namespace,
		"uid":             string(m.UID),
		"labels":          stringMap(m.Labels),
		"annotations":     stringMap(m.Annotations),
		"ownerReferences": refs,
	}}
}

func stringMap(in map[string]string) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func seriesMap(s *corev1.EventSeries) map[string]any {
	if s == nil {
		return map[string]any{"count": int64(0), "lastObservedTime": zeroTimeRFC3339}
	}
	return map[string]any{"count": int64(s.Count), "lastObservedTime": timeString(s.LastObservedTime.Time)}
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return zeroTimeRFC3339
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func str(maxLen int64) spec.Schema {
	s := *spec.StringProperty()
	s.MaxLength = &maxLen
	return s
}

func dateTime() spec.Schema {
	s := *spec.DateTimeProperty()
	return s
}

func integer() spec.Schema {
	return *spec.Int64Property()
}

func object(props map[string]spec.Schema) spec.Schema {
	s := spec.Schema{}
	s.Type = spec.StringOrArray{"object"}
	s.Properties = props
	return s
}

// eventSchema declares the shape of the event variable.
var eventSchema = func() *spec.Schema {
	s := object(map[string]spec.Schema{
		"metadata": object(map[string]spec.Schema{
			"name":      str(maxNameLength),
			"namespace": str(maxLabelValue),
			"uid":       str(maxLabelValue),
		}),
		"involvedObject": object(map[string]spec.Schema{
			"kind":       str(maxLabelValue),
			"name":       str(maxNameLength),
			"namespace":  str(maxLabelValue),
			"uid":        str(maxLabelValue),
			"apiVersion": str(maxNameLength),
			"fieldPath":  str(maxNameLength),
		}),
		"reason":  str(maxShortString),
		"message": str(maxMessageLength),
		"type":    str(maxShortString),
		"count":   integer(),
		"source": object(map[string]spec.Schema{
			"component": str(maxShortString),
			"host":      str(maxNameLength),
		}),
		"reportingComponent": str(maxShortString),
		"reportingInstance":  str(maxShortString),
		"action":             str(maxShortString),
		"firstTimestamp":     dateTime(),
		"lastTimestamp":      dateTime(),
		"eventTime":          dateTime(),
		"series": object(map[string]spec.Schema{
			"count":            integer(),
			"lastObservedTime": dateTime(),
		}),
	})
	return &s
}()

// stringMapOf is a map(string, string) of at most maxMapEntries entries
// (for cost estimation; labels and annotations may have more).
func stringMapOf(maxValue int64) spec.Schema {
	v := str(maxValue)
	s := *spec.MapProperty(&v)
	n := int64(maxMapEntries)
	s.MaxProperties = &n
	return s
}

// objectSchema declares the shape of the object variable: only what the
// watcher's caches keep.
var objectSchema = func() *spec.Schema {
	refs := spec.ArrayProperty(func() *spec.Schema {
		r := object(map[string]spec.Schema{
			"apiVersion": str(maxNameLength),
			"kind":       str(maxLabelValue),
			"name":       str(maxNameLength),
			"uid":        str(maxLabelValue),
			"controller": *spec.BoolProperty(),
		})
		return &r
	}())
	n := int64(maxOwnerReferences)
	refs.MaxItems = &n
	s := object(map[string]spec.Schema{
		"metadata": object(map[string]spec.Schema{
			"name":            str(maxNameLength),
			"namespace":       str(maxLabelValue),
			"uid":             str(maxLabelValue),
			"labels":          stringMapOf(maxLabelValue),
			"annotations":     stringMapOf(MaxAnnotationValue),
			"ownerReferences": *refs,
		}),
	})
	return &s
}()

// sizeEstimator gives CEL's cost estimator the declared bounds of the
// variables' fields (the same approach the apiextensions apiserver uses for
// CRD rules).
type sizeEstimator struct {
	roots map[string]*apiservercel.DeclType
}

func (c *sizeEstimator) EstimateSize(element checker.AstNode) *checker.SizeEstimate {
	path := element.Path()
	if len(path) == 0 {
		return nil
	}
	node, ok := c.roots[path[0]]
	if !ok {
		return nil
	}
	for _, name := range path[1:] {
		switch name {
		case "@items", "@values":
			if node.ElemType == nil {
				return nil
			}
			node = node.ElemType
		case "@keys":
			if node.KeyType == nil {
				return nil
			}
			node = node.KeyType
		default:
			f, ok := node.Fields[name]
			if !ok || f.Type == nil {
				return nil
			}
			node = f.Type
		}
	}
	return &checker.SizeEstimate{Min: 0, Max: uint64(node.MaxElements)}
}

// EstimateCallCost leaves call costs to CEL's defaults.
func (c *sizeEstimator) EstimateCallCost(_, _ string, _ *checker.AstNode, _ []checker.AstNode) *checker.CallEstimate { //nolint:gocritic // ptrToRefParam: the signature is checker.CostEstimator's
	return nil
}
