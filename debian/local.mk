# debian/: the Debian packaging (ferry, libferry0, libferry-dev), shipped
# in the tarball so that a release builds with dpkg-buildpackage too.
# tests/integration/deb_package.sh builds, installs and purges it.
EXTRA_DIST += debian/changelog debian/control debian/copyright \
	debian/rules debian/source/format debian/ferry.docs \
	debian/ferry.install debian/libferry0.install \
	debian/libferry-dev.install debian/ferry.postinst debian/ferry.postrm
