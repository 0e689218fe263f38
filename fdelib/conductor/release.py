"""The Conductor OSS release the course targets: the one place that names it.

The local engine answers as this release (``GET /api/version``), ``FDE_ENGINE=conductor-oss``
runs this release's server from its Maven artifact, and docker-compose.yaml pins its image;
tests/conductor/test_oss.py checks that compose and the README name the same one.
"""

VERSION = "3.32.1"
#: the Docker image docker-compose.yaml runs
IMAGE = f"conductoross/conductor:{VERSION}"
#: the server's Spring Boot fat jar on Maven Central (group:artifact:version:packaging:classifier)
MAVEN_GROUP = "org.conductoross"
MAVEN_ARTIFACT = "conductor-server"
MAVEN_CLASSIFIER = "boot"
MAVEN_COORDINATES = f"{MAVEN_GROUP}:{MAVEN_ARTIFACT}:{VERSION}:jar:{MAVEN_CLASSIFIER}"
JAR_NAME = f"{MAVEN_ARTIFACT}-{VERSION}-{MAVEN_CLASSIFIER}.jar"
#: the oldest Java the release runs on (its build: JavaLanguageVersion.of(21))
JAVA_MIN = 21
