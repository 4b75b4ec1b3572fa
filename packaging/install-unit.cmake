# Run by `cmake --install` and by CPack (packaging/CMakeLists.txt sets _ingot_unit_in and
# _ingot_bindir first): writes ingot.service naming the binary where this install puts it,
# which only the install step knows (`--prefix P`; /usr in the .deb).
if(IS_ABSOLUTE "${_ingot_bindir}")
  set(INGOT_BINARY "${_ingot_bindir}/ingot")
else()
  set(INGOT_BINARY "${CMAKE_INSTALL_PREFIX}/${_ingot_bindir}/ingot")
endif()
# systemd reads units from /usr/lib/systemd/system and /usr/local/lib/systemd/system
# (systemd.unit(5)), whatever the distribution's libdir.
set(_unit "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/lib/systemd/system/ingot.service")
message(STATUS "Installing: ${_unit}")
configure_file("${_ingot_unit_in}" "${_unit}" @ONLY)
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${_unit}")
