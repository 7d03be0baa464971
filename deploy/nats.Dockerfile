# kontiki-nats: nats-server built from the module version go.mod pins, on an
# empty image. Built by deploy/build.sh from a staged context:
#   nats-server   static linux binary (deploy/nats-server)
#   nats.conf     default configuration (deploy/nats-server/nats.conf)
#   rootfs/tmp/   empty, mode 1777 (copied onto / so the mode survives)
FROM scratch
COPY nats-server /
COPY nats.conf /etc/nats/nats.conf
COPY rootfs/ /
USER 65532:65532
ENV TMPDIR=/tmp
# 4222 clients, 6222 routes, 8222 monitoring (/healthz)
EXPOSE 4222 6222 8222
ENTRYPOINT ["/nats-server"]
CMD ["-c", "/etc/nats/nats.conf"]
