package svcerr

// Error codes only AWS CloudTrail returns (LookupEvents).
const (
	InvalidLookupAttributes Code = "InvalidLookupAttributesException"
	InvalidTimeRange        Code = "InvalidTimeRangeException"
	InvalidMaxResults       Code = "InvalidMaxResultsException"
	InvalidEventCategory    Code = "InvalidEventCategoryException"
)
