# Sourced by scripts: kelpie_find_jdk prints the home of a JDK 25 or newer, or explains and fails.
# Order: $JAVA_HOME if it is 25+, then Temurin 25 where Debian/Ubuntu or macOS install it.
kelpie_jdk_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | cut -d. -f1
}

kelpie_find_jdk() {
  local candidate major
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-* /usr/lib/jvm/java-25-* \
      /Library/Java/JavaVirtualMachines/temurin-25.jdk/Contents/Home; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] || continue
    major=$(kelpie_jdk_major "$candidate")
    if [ -n "$major" ] && [ "$major" -ge 25 ]; then
      echo "$candidate"
      return 0
    fi
  done
  echo "kelpie: no JDK 25 found (JAVA_HOME=${JAVA_HOME:-unset} is not 25+, and no Temurin 25 under /usr/lib/jvm)." >&2
  echo "kelpie: install Temurin 25 (apt package temurin-25-jdk from Adoptium) or point JAVA_HOME at a JDK 25." >&2
  return 1
}
