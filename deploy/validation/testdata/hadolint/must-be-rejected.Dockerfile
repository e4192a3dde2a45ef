# A Dockerfile the hadolint step of deploy/validate.sh must reject. The step fails unless
# hadolint exits non-zero here and reports every rule on the "expect:" line.
# expect: DL3007 DL3009 DL3015 DL3020 DL3025 DL4006
FROM debian:latest
RUN apt-get update && apt-get install -y curl
ADD run.sh /opt/app/run
RUN curl -fsS https://example.com/install.sh | sh
CMD /opt/app/run
