# kontiki-member: the member daemon (with its embedded nats-server) and the
# kontiki CLI, on an empty image. Built by deploy/build.sh from a staged
# context holding the static binaries and the directory layout:
#   member, kontiki   static linux binaries (CGO_ENABLED=0)
#   data/             empty, the data dir (a named volume in compose)
#   rootfs/tmp/       empty, mode 1777 (copied onto / so the mode survives)
FROM scratch
COPY member kontiki /
COPY rootfs/ /
# Owned by the runtime user; a new named volume mounted here takes this
# ownership from the image.
COPY --chown=65532:65532 data/ /data/
USER 65532:65532
WORKDIR /data
ENV TMPDIR=/tmp
# 4222 NATS clients, 6222 NATS routes, 8080 HTTP (/readyz /status /metrics)
EXPOSE 4222 6222 8080
ENTRYPOINT ["/member"]
