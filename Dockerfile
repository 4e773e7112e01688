# itscam in a container: `docker compose up` builds it (see docker-compose.yml and README
# "Scaled-out setup"). The ONNX Runtime library and the sample video come from registry
# packages, as in scripts/setup.sh.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p itscam && strip target/release/itscam

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg python3 python3-pip ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /itscam
COPY --from=build /src/target/release/itscam /usr/local/bin/itscam
COPY scripts scripts
COPY models models
COPY examples examples
COPY deploy deploy
RUN bash scripts/setup.sh
EXPOSE 8080
ENTRYPOINT ["itscam"]
CMD ["serve", "--config", "deploy/itscam.toml"]
