package dotai

import (
	"context"
	"encoding/json"
	"testing"
)

// BenchmarkEnrichAndBuild measures one event's enrichment (objects from an
// in-memory fake clientset, related events from an index, logs from memory)
// plus building and encoding the request body.
func BenchmarkEnrichAndBuild(b *testing.B) {
	for _, name := range []string{"crashloop-backoff", "imagepullbackoff"} {
		s := scenarios()[name]
		e := s.enricher()
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				body := BuildRequest(s.req, e.Enrich(context.Background(), s.req.Event, s.req.Effective.Context))
				if _, err := json.Marshal(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBuildRequest measures the issue text and JSON encoding alone.
func BenchmarkBuildRequest(b *testing.B) {
	s := scenarios()["crashloop-backoff"]
	ectx := s.enricher().Enrich(context.Background(), s.req.Event, s.req.Effective.Context)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(BuildRequest(s.req, ectx)); err != nil {
			b.Fatal(err)
		}
	}
}
