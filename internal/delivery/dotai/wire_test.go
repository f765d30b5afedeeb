package dotai

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"dot-ai.io/controller/internal/enricher"
)

func TestWireShape(t *testing.T) {
	t.Run("logs are lines; several streams get a header each", func(t *testing.T) {
		one := []enricher.ContainerLog{{Pod: "p", Container: "c", Lines: []string{"a", "b"}}}
		assert.Equal(t, []string{"a", "b"}, logLines(one))
		two := []enricher.ContainerLog{{Pod: "p", Container: "c", Previous: true, Lines: []string{"a"}}, {Pod: "p", Container: "c", Lines: []string{"b"}}}
		assert.Equal(t, []string{"--- p/c (previous instance) ---", "a", "--- p/c ---", "b"}, logLines(two))
		assert.Nil(t, logLines(nil))
	})
	t.Run("the involved object is an object", func(t *testing.T) {
		w := eventToWire(enricher.EventInfo{Namespace: "ns", Name: "e", InvolvedObject: "Deployment/web"})
		assert.Equal(t, wireObject{Kind: "Deployment", Name: "web", Namespace: "ns"}, w.InvolvedObject)
		w = eventToWire(enricher.EventInfo{Name: "e", InvolvedObject: "Node/n1"})
		assert.Equal(t, wireObject{Kind: "Node", Name: "n1"}, w.InvolvedObject, "cluster-scoped: no namespace")
	})
	t.Run("metrics are an object keyed by Pod", func(t *testing.T) {
		w := toWire(&enricher.Context{Metrics: []enricher.PodMetrics{
			{Pod: "a", Window: "30s", Containers: []enricher.ContainerUsage{{Name: "c", CPU: "5m", Memory: "10Mi"}}},
			{Pod: "b", Containers: []enricher.ContainerUsage{{Name: "c"}}},
		}})
		assert.Equal(t, map[string]wirePodMetrics{
			"a": {Window: "30s", Containers: []enricher.ContainerUsage{{Name: "c", CPU: "5m", Memory: "10Mi"}}},
			"b": {Containers: []enricher.ContainerUsage{{Name: "c"}}},
		}, w.Metrics)
		assert.Nil(t, toWire(&enricher.Context{}).Metrics, "absent, not empty, when none were gathered")
	})
}
