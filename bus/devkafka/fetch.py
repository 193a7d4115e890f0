"""Fetch the Apache Kafka broker jars from Maven Central into a cache outside the repository.

The broker is ``org.apache.kafka:kafka_2.13`` with its runtime dependencies, resolved by
Maven from a generated ``pom.xml``. A second call finds the cache complete and returns at
once. ``SILIAN_KAFKA_LIBS`` points at a ready folder of jars instead (air-gapped machines).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from bus.errors import SilianEnvironmentError

__all__ = ["KAFKA_VERSION", "cache_root", "ensure_kafka_libs", "find_java"]

# Pinned: 4.1.1 is the newest 4.x whose transactions and consumer groups we ran with
# aiokafka 0.14 here; see README "Kafka version".
KAFKA_VERSION = "4.1.1"
_LOG4J_VERSION = "2.24.3"
_SLF4J_VERSION = "2.0.17"
_COMPLETE_MARKER = ".complete"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>cn.silian.dev</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>{kafka}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <!-- Kafka 4 logs through SLF4J 2 to Log4j 2; without a binding it logs nothing. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId>
      <version>{slf4j}</version>
    </dependency>
  </dependencies>
</project>
"""


def cache_root() -> Path:
    """``$SILIAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/silian``, else ``~/.cache/silian``."""
    if explicit := os.environ.get("SILIAN_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "silian"


def find_java() -> str:
    """Path of a ``java`` able to run Kafka 4 (Java 17+), or a clear error."""
    java = shutil.which("java")
    if java is None:
        raise SilianEnvironmentError(
            "java not found on PATH: Kafka needs a JDK 17 or newer (apt-get install openjdk-17-jdk)"
        )
    probe = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    first = (probe.stderr or probe.stdout).splitlines()[:1]
    version = first[0].split('"')[1] if first and '"' in first[0] else ""
    major = version.split(".")[0]
    if not major.isdigit() or int(major) < 17:
        raise SilianEnvironmentError(
            f"java at {java} is version {version or '?'}; Kafka 4 needs 17+"
        )
    return java


def ensure_kafka_libs(version: str = KAFKA_VERSION) -> Path:
    """Folder of the broker's jars, fetching them with Maven on first use."""
    if explicit := os.environ.get("SILIAN_KAFKA_LIBS"):
        libs = Path(explicit)
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise SilianEnvironmentError(f"SILIAN_KAFKA_LIBS={libs} holds no kafka_2.13 jar")
        return libs
    home = cache_root() / "kafka" / version
    libs = home / "libs"
    if (libs / _COMPLETE_MARKER).exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SilianEnvironmentError(
            "mvn not found on PATH: it fetches Kafka from Maven Central (apt-get install maven),"
            " or set SILIAN_KAFKA_LIBS to a folder of Kafka jars"
        )
    home.mkdir(parents=True, exist_ok=True)
    staging = home / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    (home / "pom.xml").write_text(
        _POM.format(kafka=version, log4j=_LOG4J_VERSION, slf4j=_SLF4J_VERSION), encoding="utf-8"
    )
    log_path = home / "fetch.log"
    with log_path.open("w", encoding="utf-8") as log:
        done = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(home / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        raise SilianEnvironmentError(
            f"could not fetch Kafka {version} with Maven (exit {done.returncode}); see {log_path}"
        )
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    (libs / _COMPLETE_MARKER).write_text(
        "\n".join(sorted(p.name for p in libs.glob("*.jar"))) + "\n", encoding="utf-8"
    )
    return libs
