"""ckn, the customer knowledge network: CRM data, feedback and documents as a knowledge graph.

Layers, each a subpackage: ``ckn.api`` (HTTP and the command line) over ``ckn.ingest`` and
``ckn.queries``, over ``ckn.graph`` (the model and the storage port with its two stores).
"""
