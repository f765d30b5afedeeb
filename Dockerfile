# syntax=docker/dockerfile:1
# The controller image: a static binary on distroless/static, non-root
# (UID 65532), no shell. The chart's default image is built from this file.
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS builder
ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X dot-ai.io/controller/internal/version.Version=${VERSION}" \
    -o /out/dot-ai-controller ./cmd/dot-ai-controller

FROM gcr.io/distroless/static:nonroot
LABEL org.opencontainers.image.title="dot-ai-controller" \
      org.opencontainers.image.description="Sends matching Kubernetes Events to a dot-ai MCP server for analysis and remediation" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/dot-ai-controller /dot-ai-controller
USER 65532:65532
ENTRYPOINT ["/dot-ai-controller"]
