"""One module per score type; each turns LeadFacts into a 0-100 score and its factors, or None
when it has nothing to go on (the combiner then leaves that type out)."""
