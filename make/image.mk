##@ Image

# IMG (from the Makefile) names the image; the chart's default is
# ghcr.io/dot-ai/dot-ai-controller:<appVersion>.
CONTAINER_TOOL ?= $(shell command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 && echo docker || echo podman)
IMAGE_ROOTFS := $(ROOT)/dist/image-rootfs
# A prebuilt static binary to import instead of building one (optional).
IMAGE_BINARY ?=

.PHONY: image
image: ## Build the controller image (docker build; on hosts without a daemon: a podman import of the same layout).
	@if [ "$(CONTAINER_TOOL)" = docker ]; then \
		docker build --build-arg VERSION=$(VERSION) -t $(IMG) . ; \
	else \
		$(MAKE) --no-print-directory image-import; \
	fi

# Without a Docker daemon or registry access (this project's CI host), the
# Dockerfile's base image cannot be pulled. image-import builds the same
# layout (static binary at /dot-ai-controller, passwd entry for 65532) as a
# root filesystem tarball and imports it with podman.
.PHONY: image-import
image-import: ## Build the static binary into a rootfs tarball and `podman import` it as $(IMG).
	rm -rf $(IMAGE_ROOTFS) && mkdir -p $(IMAGE_ROOTFS)/etc $(IMAGE_ROOTFS)/tmp
	$(if $(IMAGE_BINARY),cp $(IMAGE_BINARY) $(IMAGE_ROOTFS)/dot-ai-controller,CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X dot-ai.io/controller/internal/version.Version=$(VERSION)" -o $(IMAGE_ROOTFS)/dot-ai-controller ./cmd/dot-ai-controller)
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > $(IMAGE_ROOTFS)/etc/passwd
	printf 'root:x:0:\nnonroot:x:65532:\n' > $(IMAGE_ROOTFS)/etc/group
	chmod 1777 $(IMAGE_ROOTFS)/tmp
	tar -C $(IMAGE_ROOTFS) --owner=0 --group=0 -cf $(ROOT)/dist/image-rootfs.tar .
	podman import --change 'USER=65532:65532' --change 'ENTRYPOINT=["/dot-ai-controller"]' $(ROOT)/dist/image-rootfs.tar $(IMG)

.PHONY: image-smoke
image-smoke: image ## Run the image as UID 65532 with a read-only root filesystem (--version and --help).
	$(CONTAINER_TOOL) run --rm $(if $(filter podman,$(CONTAINER_TOOL)),--runtime /usr/sbin/runc --ulimit nofile=1024:1024 --ulimit nproc=1000:1000 --network none) \
		--user 65532:65532 --read-only $(IMG) --version
	$(CONTAINER_TOOL) run --rm $(if $(filter podman,$(CONTAINER_TOOL)),--runtime /usr/sbin/runc --ulimit nofile=1024:1024 --ulimit nproc=1000:1000 --network none) \
		--user 65532:65532 --read-only $(IMG) --help 2>&1 | grep -- '-mcp-endpoint' >/dev/null
	@echo "image $(IMG) runs as 65532 with a read-only root filesystem"
