"""recoil-myplugin: a Recoil plugin (one clip per shot until you make it yours)."""
