# CPack: `cpack -G DEB` in the build dir (or `ninja package`) makes ingot_<version>_<arch>.deb
# from what `cmake --install` puts in place, under /usr. Runtime dependencies come from
# dpkg-shlibdeps (dpkg-dev): librocksdb7.8, libsodium23, libzstd1, libssl3 and the rest, at
# the versions the binary was linked against.
set(INGOT_DEB_MAINTAINER "Ingot maintainers <ingot-maintainers@example.org>"
    CACHE STRING "Maintainer field of the .deb")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ingot)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_DESCRIPTION
    "Ingot is an HTTP cache for build outputs (Bazel, ccache, Nix, plain HTTP) over a
content-addressed store with a hard size bound and LRU garbage collection, and a
signed binary store: releases are signed so that stock minisign and signify verify
them. One binary, ingot, serves (ingot serve) and is the client and admin CLI.
The package ships a systemd unit, not enabled: systemctl enable --now ingot.")
set(CPACK_PACKAGE_CONTACT "${INGOT_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${INGOT_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# The RelWithDebInfo binary is ~110 MiB of which the code is a tenth; packaged stripped.
set(CPACK_STRIP_FILES ON)
set(_ingot_deb_scripts ${PROJECT_SOURCE_DIR}/packaging/debian)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${_ingot_deb_scripts}/postinst ${_ingot_deb_scripts}/prerm ${_ingot_deb_scripts}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
