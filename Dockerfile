# Faultline operator image: a static binary on a distroless base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY experiments/ experiments/
COPY internal/ internal/
COPY webhooks/ webhooks/
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/faultline ./cmd/faultline

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/faultline /faultline
USER 65532:65532
ENTRYPOINT ["/faultline"]
