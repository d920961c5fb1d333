"""SRX chassis cluster simulator (lab for demo and tests). So far: the pure device model;
the NETCONF-over-SSH transport, replies and lab CLI are still to be built (issue 2)."""
