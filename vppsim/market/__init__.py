"""Market logic: tariffs, VPO price policies, the VPPs' lower-level problem, settlement."""
